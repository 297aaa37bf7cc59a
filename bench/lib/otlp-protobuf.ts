// Decodes an OTLP/HTTP protobuf ExportTraceServiceRequest (what containerd's
// exporter posts) into the few span fields the step breakdown needs. Field
// numbers are those of opentelemetry/proto/{collector/trace,trace,resource,common}/v1;
// everything else is skipped.

import { BinaryReader } from '@bufbuild/protobuf/wire';

/** A span as the benchmarks keep it, whichever encoding it came in. */
export interface CollectedSpan {
  /** The resource's service.name: berthd, berth-shim, containerd. */
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startNs: bigint;
  endNs: bigint;
}

/** Runs `field` for every field of the message in `bytes`, skipping those it returns false for. */
function eachField(bytes: Uint8Array, field: (no: number, r: BinaryReader) => boolean): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wire] = r.tag();
    if (!field(no, r)) r.skip(wire, no);
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** AnyValue: only string_value (1) matters here (service.name). */
function stringValue(bytes: Uint8Array): string | undefined {
  let out: string | undefined;
  eachField(bytes, (no, r) => (no === 1 ? ((out = r.string()), true) : false));
  return out;
}

/** Resource.attributes (1) → KeyValue{key 1, value 2}: the service.name. */
function serviceName(resource: Uint8Array): string {
  let name = '';
  eachField(resource, (no, r) => {
    if (no !== 1) return false;
    let key = '';
    let value: string | undefined;
    eachField(r.bytes(), (kno, kr) => {
      if (kno === 1) key = kr.string();
      else if (kno === 2) value = stringValue(kr.bytes());
      else return false;
      return true;
    });
    if (key === 'service.name' && value !== undefined) name = value;
    return true;
  });
  return name;
}

function span(bytes: Uint8Array, service: string): CollectedSpan {
  const s: CollectedSpan = {
    service,
    traceId: '',
    spanId: '',
    name: '',
    startNs: 0n,
    endNs: 0n,
  };
  eachField(bytes, (no, r) => {
    switch (no) {
      case 1:
        s.traceId = hex(r.bytes());
        return true;
      case 2:
        s.spanId = hex(r.bytes());
        return true;
      case 4: {
        const parent = hex(r.bytes());
        if (parent) s.parentSpanId = parent;
        return true;
      }
      case 5:
        s.name = r.string();
        return true;
      case 7:
        s.startNs = BigInt(r.fixed64());
        return true;
      case 8:
        s.endNs = BigInt(r.fixed64());
        return true;
      default:
        return false;
    }
  });
  return s;
}

/** ExportTraceServiceRequest{resource_spans 1} → ResourceSpans{resource 1, scope_spans 2} → ScopeSpans{spans 2}. */
export function decodeTraceRequest(body: Uint8Array): CollectedSpan[] {
  const out: CollectedSpan[] = [];
  eachField(body, (no, r) => {
    if (no !== 1) return false;
    let service = '';
    const scopes: Uint8Array[] = [];
    eachField(r.bytes(), (rno, rr) => {
      if (rno === 1) service = serviceName(rr.bytes());
      else if (rno === 2) scopes.push(rr.bytes());
      else return false;
      return true;
    });
    for (const scope of scopes) {
      eachField(scope, (sno, sr) => {
        if (sno !== 2) return false;
        out.push(span(sr.bytes(), service));
        return true;
      });
    }
    return true;
  });
  return out;
}
