// The shell side of completion: each script hands the words typed so far to
// `berth __complete` and offers what it prints, one candidate a line. With
// nothing printed, the shell completes file names.

const BASH = `# bash completion for berth.
#   source <(berth completion bash)
# or save it as /usr/share/bash-completion/completions/berth
_berth() {
  local line=\${COMP_LINE:0:COMP_POINT}
  local -a words
  read -r -a words <<<"$line"
  [[ $line =~ [[:space:]]$ ]] && words+=("")
  local cur=\${words[\${#words[@]}-1]}
  mapfile -t COMPREPLY < <("\${words[0]}" __complete "\${words[@]:1}" 2>/dev/null)
  # bash splits the word at ':' and '=' (when COMP_WORDBREAKS says so): the
  # replies replace only what follows the last of them.
  local breaks=\${COMP_WORDBREAKS//[^:=]/}
  if [[ -n $breaks && $cur == *["$breaks"]* ]]; then
    local head=\${cur%"\${cur##*["$breaks"]}"}
    COMPREPLY=("\${COMPREPLY[@]#"$head"}")
  fi
}
complete -o default -F _berth berth
`;

const ZSH = `#compdef berth
# zsh completion for berth.
#   source <(berth completion zsh)
# or save it as _berth in a directory of $fpath.
_berth() {
  local -a candidates
  candidates=("\${(@f)$("\${words[1]}" __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  candidates=(\${candidates:#})
  if (( \${#candidates} )); then
    compadd -- "\${candidates[@]}"
  else
    _files
  fi
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _berth "$@"
else
  compdef _berth berth
fi
`;

export const COMPLETION_SCRIPTS = { bash: BASH, zsh: ZSH } as const;
export type Shell = keyof typeof COMPLETION_SCRIPTS;
