#!/usr/bin/env bash
# The steps of .github/workflows/spillbench-regression.yml that decide a
# result, kept out of the YAML so that cmd/spillbench/workflow_test.go runs
# exactly what CI runs.
#
#   spillbench-ci.sh ab BASE OUT [AB-FLAGS...]
#       Builds spillbench from the working tree once, finds the merge base
#       of BASE (a revision) and HEAD, and runs
#         spillbench ab --base <merge base> --head <the binary> --format markdown --out OUT/ab [AB-FLAGS...]
#       which builds the merge base in a git worktree and runs both sides
#       interleaved. It writes OUT/comparison.md (the comment's body),
#       OUT/status (ok, regression, error or interrupted) and OUT/ab.log,
#       appends the markdown to $GITHUB_STEP_SUMMARY and status=,
#       exit-code= and merge-base= to $GITHUB_OUTPUT when they are set,
#       and exits as ab does: 0 no regression, 1 a regression, 2 an error
#       (bad input, a build or a sweep that failed: not a regression),
#       130 interrupted. It runs from the repository's root: paths in
#       AB-FLAGS (a --spec file) are relative to it.
#
#   spillbench-ci.sh trend SPILLBENCH STORE [HISTORY-SHOW-FLAGS...]
#       Runs `SPILLBENCH history show --store STORE` and writes its output
#       to the step summary. Exits 0 when no regression is in effect, 1
#       when one is, 2 when the history could not be shown.
#
#   spillbench-ci.sh comment REPO PR FILE
#       Posts FILE as the pull request's spillbench comment: ONE comment,
#       updated in place on every push. Needs gh and a token that may write
#       to the pull request (GH_TOKEN); the tests do not run it.
#
# Outside GitHub Actions the verdicts go to stderr as plain lines; inside
# (GITHUB_ACTIONS=true) as ::error:: annotations, whose titles tell an
# error from a regression.
set -euo pipefail

prog=spillbench-ci.sh

# annotate LEVEL TITLE MESSAGE: a workflow annotation in GitHub Actions,
# a line on stderr elsewhere.
annotate() {
  if [[ ${GITHUB_ACTIONS:-} == true ]]; then
    printf '::%s title=%s::%s\n' "$1" "$2" "$3"
  else
    printf '%s: %s: %s\n' "$prog" "$2" "$3" >&2
  fi
}

# summary FILE: append FILE to the job's summary page, if there is one.
summary() {
  if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    cat "$1" >>"$GITHUB_STEP_SUMMARY"
  fi
}

# output NAME=VALUE...: step outputs, if there is a place for them.
output() {
  if [[ -n ${GITHUB_OUTPUT:-} ]]; then
    printf '%s\n' "$@" >>"$GITHUB_OUTPUT"
  fi
}

# abs PATH: PATH made absolute against the current directory.
abs() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}

# failed_markdown TITLE DETAIL LOG: the comment's body when there is no
# comparison to show, with the end of LOG.
failed_markdown() {
  printf '### spillbench comparison: %s\n\n%s\n' "$1" "$2"
  if [[ -s $3 ]]; then
    printf '\n<details><summary>the end of the log</summary>\n\n```\n'
    tail -n 20 "$3"
    printf '```\n\n</details>\n'
  fi
}

cmd_ab() {
  if (($# < 2)); then
    echo "usage: $prog ab BASE OUT [AB-FLAGS...]" >&2
    return 2
  fi
  local base=$1 out
  out=$(abs "$2")
  shift 2
  mkdir -p "$out"
  local md=$out/comparison.md log=$out/ab.log
  : >"$log"

  # Record the verdict in every place a later step or a reader looks, and
  # return its exit status.
  local merge_base=""
  verdict() { # STATUS CODE
    printf '%s\n' "$1" >"$out/status"
    output "status=$1" "exit-code=$2" "merge-base=$merge_base"
    summary "$md"
    return "$2"
  }

  # spillbench runs from the checkout this script belongs to, and ab
  # builds the base from the same repository.
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/spillbench-ci.XXXXXX")
  # shellcheck disable=SC2064 # expand tmp now: it is local
  trap "rm -rf '$tmp'" EXIT
  local bin=$tmp/spillbench

  # Build once: this binary is the head side, and it drives ab.
  if ! go build -o "$bin" ./cmd/spillbench 2>"$log"; then
    cat "$log" >&2
    failed_markdown "error" "The pull request's spillbench does not build (\`go build ./cmd/spillbench\`). This is an error, not a regression." "$log" >"$md"
    annotate error "spillbench error" "the head does not build; see the log"
    verdict error 2
    return
  fi

  # The merge base, not the base branch's tip: changes that landed on the
  # base branch since the pull request forked are not the pull request's.
  if ! merge_base=$(git merge-base "$base" HEAD 2>"$log"); then
    cat "$log" >&2
    failed_markdown "error" "No merge base of \`$base\` and HEAD (a shallow clone? fetch-depth: 0 fetches the history). This is an error, not a regression." "$log" >"$md"
    annotate error "spillbench error" "no merge base of $base and HEAD"
    verdict error 2
    return
  fi
  local head
  head=$(git rev-parse HEAD)
  # Which commits a comment updated in place is about.
  footer() {
    printf '\n<sub>spillbench ab: the merge base <code>%.12s</code> against <code>%.12s</code>.</sub>\n' "$merge_base" "$head"
  }
  echo "$prog: the merge base ${merge_base:0:12} of $base against HEAD ${head:0:12}" >&2

  # ab's stdout is the comparison; its stderr goes to the job log and to
  # ab.log. Keep ab's own exit status: piping or `go run` would lose it.
  local code=0
  "$bin" ab --base "$merge_base" --head "$bin" --format markdown --out "$out/ab" "$@" \
    2>&1 >"$md" | tee "$log" >&2 || code=${PIPESTATUS[0]}

  case $code in
    0)
      footer >>"$md"
      echo "$prog: no significant regression" >&2
      verdict ok 0
      ;;
    1)
      if [[ ! -s $md ]]; then
        # Exit 1 without a comparison is a failure of another kind.
        failed_markdown "error" "spillbench ab exited 1 without writing a comparison. This is an error, not a regression." "$log" >"$md"
        annotate error "spillbench error" "ab exited 1 without a comparison; see the log"
        verdict error 2
        return
      fi
      footer >>"$md"
      annotate error "spillbench regression" "a significant regression against the merge base ${merge_base:0:12}; see the comparison in the job summary"
      verdict regression 1
      ;;
    130)
      failed_markdown "interrupted" "spillbench ab was interrupted before it compared." "$log" >"$md"
      annotate error "spillbench interrupted" "ab was interrupted"
      verdict interrupted 130
      ;;
    *)
      failed_markdown "error" "spillbench ab exited $code: bad input, or a build or a sweep that failed. This is an error, not a regression." "$log" >"$md"
      annotate error "spillbench error" "ab exited $code: it could not compare (not a regression); see the log"
      verdict error 2
      ;;
  esac
}

cmd_trend() {
  if (($# < 2)); then
    echo "usage: $prog trend SPILLBENCH STORE [HISTORY-SHOW-FLAGS...]" >&2
    return 2
  fi
  local bin=$1 store=$2
  shift 2
  local tmp
  tmp=$(mktemp "${TMPDIR:-/tmp}/spillbench-trend.XXXXXX")
  # shellcheck disable=SC2064 # expand tmp now: it is local
  trap "rm -f '$tmp'" EXIT
  local code=0
  "$bin" history show --store "$store" "$@" 2>&1 | tee "$tmp" || code=${PIPESTATUS[0]}
  {
    printf '### spillbench history\n\n```\n'
    cat "$tmp"
    printf '```\n'
  } >"$tmp.md"
  summary "$tmp.md"
  rm -f "$tmp.md"
  case $code in
    0) echo "$prog: no regression in effect" >&2 ;;
    1)
      annotate error "spillbench regression" "history show: a regression is in effect; see the trend in the job summary"
      return 1
      ;;
    *)
      annotate error "spillbench error" "history show exited $code: the history could not be shown (not a regression)"
      return 2
      ;;
  esac
}

# The marker that finds this workflow's comment among a pull request's
# comments: the first line of its body, invisible when rendered.
marker='<!-- spillbench-regression -->'

cmd_comment() {
  if (($# != 3)); then
    echo "usage: $prog comment REPO PR FILE" >&2
    return 2
  fi
  local repo=$1 pr=$2 file=$3
  if [[ ! -s $file ]]; then
    annotate warning "spillbench comment" "no $file to post"
    return 0
  fi
  # The newest comment of ours that carries the marker. The author check
  # skips a human's comment quoting it; a token other than github.token
  # (an app's, a PAT) posts as another login: set SPILLBENCH_COMMENT_AUTHOR.
  local author=${SPILLBENCH_COMMENT_AUTHOR:-github-actions[bot]} id body
  body=$(mktemp)
  # shellcheck disable=SC2064 # expand body now: it is local
  trap "rm -f '$body'" EXIT
  { printf '%s\n' "$marker"; cat "$file"; } | jq -Rs '{body: .}' >"$body"
  # A comment we could not post must not fail the job: the result is in
  # the summary and the job's status. Where the token may not write (a
  # Dependabot pull request; forks never get here) gh fails with 403.
  if ! id=$(gh api --paginate "repos/$repo/issues/$pr/comments" \
    --jq ".[] | select(.user.login == \"$author\" and (.body | startswith(\"$marker\"))) | .id" | tail -n 1); then
    annotate warning "spillbench comment" "could not list the comments of #$pr; not commenting"
    return 0
  fi
  if [[ -n $id ]]; then
    gh api --method PATCH "repos/$repo/issues/comments/$id" --input "$body" >/dev/null ||
      annotate warning "spillbench comment" "could not update comment $id on #$pr"
  else
    gh api --method POST "repos/$repo/issues/$pr/comments" --input "$body" >/dev/null ||
      annotate warning "spillbench comment" "could not comment on #$pr"
  fi
}

case ${1:-} in
  ab | trend | comment)
    sub=$1
    shift
    "cmd_$sub" "$@"
    ;;
  *)
    echo "usage: $prog ab|trend|comment ...; see the comment at the top of $0" >&2
    exit 2
    ;;
esac
