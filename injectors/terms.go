package injectors

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTerms checks a failpoint term chain as the failpoint mechanism
// arms it, without the failpoint library (default builds do not link
// it), so a spec with a bad term is refused when it is read instead of
// failing every run. The grammar is pingcap/failpoint's:
//
//	terms  = term { "->" term }
//	term   = { P "%" | N "*" } action [ "(" value ")" ]
//	action = off | return | sleep
//
// with P a percentage from 0 to 100 and N a count from 1. return takes
// an errno name in quotes ("ENOSPC"), the error the seam call fails
// with; sleep takes milliseconds or a quoted duration. panic, break,
// pause and print are refused: they would kill, stop or hang a sweep,
// or write into its output.
func ParseTerms(s string) error {
	if s == "" {
		return fmt.Errorf("failpoint terms are empty; write one such as return(\"ENOSPC\")")
	}
	for i, t := range strings.Split(s, "->") {
		if err := parseTerm(t); err != nil {
			return fmt.Errorf("failpoint terms %q, term %d %q: %w", s, i+1, t, err)
		}
	}
	return nil
}

// parseTerm checks one term of a chain.
func parseTerm(t string) error {
	rest := t
	for {
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			break
		}
		num, op := rest[:i], rest[i]
		switch op {
		case '%':
			p, err := strconv.ParseFloat(num, 64)
			if err != nil || p < 0 || p > 100 {
				return fmt.Errorf("probability %s%%: give 0%% to 100%%", num)
			}
		case '*':
			n, err := strconv.Atoi(num)
			if err != nil || n < 1 {
				return fmt.Errorf("count %s*: give a whole number from 1", num)
			}
		default:
			return fmt.Errorf("%s is followed by %q; a number is a probability (25%%) or a count (2*)", num, op)
		}
		rest = rest[i+1:]
	}
	name, arg, hasArg := strings.Cut(rest, "(")
	if hasArg {
		var ok bool
		if arg, ok = strings.CutSuffix(arg, ")"); !ok {
			return fmt.Errorf("%q has no closing parenthesis", rest)
		}
	}
	switch name {
	case "off":
		if arg != "" {
			return fmt.Errorf("off takes no value")
		}
	case "return":
		return parseReturn(arg)
	case "sleep":
		return parseSleep(arg)
	case "panic", "break", "pause", "print":
		return fmt.Errorf("%s is not allowed: it would kill, stop or hang the sweep, or write into its output; use return, sleep or off", name)
	case "":
		return fmt.Errorf("no action; use return(\"ENOSPC\"), sleep(10) or off")
	default:
		return fmt.Errorf("unknown action %q; use return(\"ENOSPC\"), sleep(10) or off", name)
	}
	return nil
}

// parseReturn checks return's value: an errno name in quotes.
func parseReturn(arg string) error {
	s, err := strconv.Unquote(arg)
	if err != nil {
		return fmt.Errorf("return(%s): give an errno name in quotes, such as return(\"ENOSPC\")", arg)
	}
	if errnoByName(strings.ToUpper(s)) == 0 {
		return fmt.Errorf("return(%s): %q is not an errno name; use ENOSPC, EDQUOT, EIO, EFBIG, ENOENT or another E... name", arg, s)
	}
	return nil
}

// parseSleep checks sleep's value: milliseconds, or a quoted duration.
func parseSleep(arg string) error {
	if n, err := strconv.Atoi(arg); err == nil {
		if n < 0 {
			return fmt.Errorf("sleep(%s): give a delay of 0 ms or more", arg)
		}
		return nil
	}
	s, err := strconv.Unquote(arg)
	if err != nil {
		return fmt.Errorf("sleep(%s): give milliseconds, such as sleep(10), or a duration in quotes, such as sleep(\"10ms\")", arg)
	}
	if d, err := time.ParseDuration(s); err != nil || d < 0 {
		return fmt.Errorf("sleep(%s): %q is not a duration of 0 or more, such as \"10ms\"", arg, s)
	}
	return nil
}
