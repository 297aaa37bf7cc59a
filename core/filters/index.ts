// containerd-compatible filters: parse `ctr … ls` and `ctr events` filter
// strings and evaluate them against any resource through an Adaptor.
export {
  All,
  AnyOf,
  Selector,
  always,
  lookupLabel,
  type Adaptor,
  type FieldValue,
  type Filter,
  type Operator,
} from './filter.js';
export { FilterParseError, parseFilter, parseFilters } from './parser.js';
export { RegexpSyntaxError, compileGoRegexp } from './regexp.js';
