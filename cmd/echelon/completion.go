package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// completionStdout is where completion writes its script; tests swap it.
var completionStdout io.Writer = os.Stdout

const completionUsage = `completion bash|zsh|fish

Prints a shell completion script for echelon's commands and flags:

  bash:  source <(echelon completion bash)
         or save it as /etc/bash_completion.d/echelon
  zsh:   echelon completion zsh > "${fpath[1]}/_echelon"   (then compinit)
         or source <(echelon completion zsh)
  fish:  echelon completion fish > ~/.config/fish/completions/echelon.fish`

// compFlag is one flag as the completion scripts offer it. arg says what
// follows it: "" nothing (a bool), "file", "dir", "value" (free text), or
// a space-separated list of the values it takes.
type compFlag struct {
	name, short, arg, help string
}

var (
	compVar     = compFlag{"var", "", "value", "set a variable: NAME=VALUE"}
	compVarFile = compFlag{"var-file", "", "file", "read variables from a FILE"}
)

// completionFlags are every command's visible flags, in --help order
// (TestCompletionCoversFlags holds this table to each command's --help).
var completionFlags = map[string][]compFlag{
	"validate": {compVar, compVarFile, {"json", "", "", "print the diagnostics as JSON"}},
	"fmt": {
		{"check", "", "", "list unformatted files and exit 1"},
		{"diff", "", "", "print the changes as a unified diff"},
		{"json", "", "", "print the result as JSON"},
	},
	"compile": {
		{"mode", "", "value", "the mode to compile for"},
		compVar, compVarFile,
		{"out", "o", "file", "write the plan to a file"},
		{"destroy", "", "", "compile an undeploy plan"},
		{"only", "", "value", "destroy only these components"},
		{"undeploy-strategy", "", "if_depending_stop skip_depending undeploy_depending", "what happens to dependents"},
		{"json", "", "", "print diagnostics as JSON"},
	},
	"show": {{"json", "", "", "print the view as JSON"}},
	"graph": {
		{"mode", "", "value", "the mode to compile a spec for"},
		compVar, compVarFile,
		{"destroy", "", "", "graph the destroy plan"},
		{"json", "", "", "print nodes and edges as JSON"},
	},
	"simulate": {
		{"mode", "", "value", "the mode to simulate, or all"},
		{"trials", "", "value", "independent trials per mode"},
		{"seed", "", "value", "random seed"},
		{"json", "", "", "print the prediction as JSON"},
		{"check", "", "", "exit 1 when a prediction breaks a budget"},
		{"gantt", "", "file", "write the median run as an SVG Gantt chart"},
		{"trace", "", "file", "write the median run's predicted starts and ends as JSON lines"},
		{"html", "", "file", "write a self-contained HTML report"},
		{"no-calibration", "", "", "ignore the spec's echelon.calibration.json"},
		{"cores", "", "value", "cores of the machine that will run the plan"},
		compVar, compVarFile,
	},
	"apply": {
		{"spec", "", "file", "the plan's spec (default: found from spec.path)"},
		{"state", "", "dir", "the state directory"},
		{"store", "", "value", "a postgres:// URL or a state directory"},
		{"workers", "", "", "coordinate: workers run the steps"},
		{"worker-label", "", "value", "only workers with this label run the steps"},
		{"resume", "", "", "continue the plan's last run"},
		{"json", "", "", "print events and the summary as JSON lines"},
		{"no-calibration", "", "", "predict without the spec's echelon.calibration.json"},
		{"no-preview", "", "", "ignore the plan's preview: plan and apply afresh"},
		compVar, compVarFile,
	},
	"plan": {
		{"spec", "", "file", "the plan's spec (default: found from spec.path)"},
		{"state", "", "dir", "the state directory (the saved plans go there)"},
		{"store", "", "value", "a postgres:// URL (the summary goes there too) or a state directory"},
		{"format", "", "text json markdown", "output format"},
		{"json", "", "", "same as --format json"},
		compVar, compVarFile,
	},
	"diff": {
		{"format", "", "text markdown json", "output format"},
		{"json", "", "", "same as --format json"},
		{"exit-code", "", "", "exit 1 when the plans differ"},
	},
	"golden": {
		{"check", "", "", "exit 1 with a diff when the golden files are stale"},
		{"update", "", "", "rewrite the golden files"},
		{"mode", "", "value", "the mode to write or check, or all"},
		compVar, compVarFile,
	},
	"review": {
		{"base", "", "value", "the git revision to compare with"},
		{"json", "", "", "print the review as JSON"},
		{"html", "", "file", "also write a self-contained HTML report"},
		{"trials", "", "value", "simulated trials per mode and side"},
		{"seed", "", "value", "random seed"},
		compVar, compVarFile,
	},
	"report": {
		{"state", "", "dir", "the state directory of the run"},
		{"store", "", "value", "a postgres:// URL or a state directory"},
		{"json", "", "", "print the comparison as JSON"},
		{"gantt", "", "file", "draw the real run and the predicted median as SVG"},
		{"no-calibration", "", "", "re-predict without the spec's calibration"},
	},
	"calibrate": {
		{"state", "", "dir", "the state directory holding the runs"},
		{"runs", "", "value", "use only the last N runs"},
		{"out", "o", "file", "write the calibration to FILE"},
		{"json", "", "", "print the calibration as JSON"},
		{"store", "", "value", "a postgres:// URL or a state directory"},
		compVar, compVarFile,
	},
	"logs": {
		{"state", "", "dir", "the state directory of the run"},
		{"store", "", "value", "a postgres:// URL or a state directory"},
		{"attempt", "", "value", "the attempt N"},
		{"json", "", "", "print the log and where it was read as JSON"},
	},
	"runs": {
		{"store", "", "value", "a postgres:// URL or a state directory"},
		{"state", "", "dir", "the state directory"},
		{"json", "", "", "print holders and runs as JSON"},
	},
	"unlock": {
		{"store", "", "value", "a postgres:// URL or a state directory"},
		{"state", "", "dir", "the state directory"},
		{"yes", "", "", "do not ask for confirmation"},
		{"json", "", "", "print what was removed as JSON"},
	},
	"worker": {
		{"store", "", "value", "the postgres:// URL of the store"},
		{"slots", "", "value", "steps run at once"},
		{"label", "", "value", "a label tasks may ask for"},
		{"state", "", "dir", "this machine's state directory"},
		{"spec", "", "file", "the spec of the plans"},
		compVar, compVarFile,
	},
	"completion": {},
}

// completion is registered in init: its scripts list the commands, so
// it cannot be in the commands literal (an initialization cycle).
func init() {
	commands["completion"] = command{"print a shell completion script (bash, zsh, fish)", runCompletion}
}

// completionShells are the shells completion writes scripts for.
var completionShells = []string{"bash", "zsh", "fish"}

func runCompletion(_ context.Context, args []string) error {
	fs := newFlagSet("completion", completionUsage)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		return usagef("completion takes one shell (bash, zsh or fish), got %d", fs.NArg())
	}
	var script string
	switch sh := fs.Arg(0); sh {
	case "bash":
		script = bashCompletion()
	case "zsh":
		script = zshCompletion()
	case "fish":
		script = fishCompletion()
	default:
		return usagef("completion: %q is not bash, zsh or fish.%s", sh, didYouMean(sh, completionShells))
	}
	_, err := io.WriteString(completionStdout, script)
	return err
}

// completionCommands are the command names, sorted.
func completionCommands() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func bashCompletion() string {
	var b strings.Builder
	b.WriteString(`# bash completion for echelon: source <(echelon completion bash)
_echelon() {
    local cur prev cmd i
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -*) ;;
            *) cmd="${COMP_WORDS[i]}"; break ;;
        esac
    done
    if [[ -z "$cmd" ]]; then
        COMPREPLY=($(compgen -W "` + strings.Join(completionCommands(), " ") + ` help --help --version" -- "$cur"))
        return 0
    fi
    local flags="--help"
    case "$cmd" in
`)
	for _, c := range completionCommands() {
		var names []string
		for _, f := range completionFlags[c] {
			names = append(names, "--"+f.name)
			if f.short != "" {
				names = append(names, "-"+f.short)
			}
		}
		fmt.Fprintf(&b, "        %s) flags=%q ;;\n", c, strings.Join(append(names, "--help"), " "))
	}
	b.WriteString(`    esac
    if [[ "$cmd" == completion ]]; then
        COMPREPLY=($(compgen -W "` + strings.Join(completionShells, " ") + `" -- "$cur"))
        return 0
    fi
    case "$prev" in
`)
	// What follows a flag that takes a value, whatever the command.
	byArg := map[string][]string{}
	var args []string
	for _, c := range completionCommands() {
		for _, f := range completionFlags[c] {
			if f.arg == "" {
				continue
			}
			for _, n := range flagSpellings(f) {
				if !slices.Contains(byArg[f.arg], n) {
					if len(byArg[f.arg]) == 0 {
						args = append(args, f.arg)
					}
					byArg[f.arg] = append(byArg[f.arg], n)
				}
			}
		}
	}
	for _, a := range args {
		var action string
		switch a {
		case "file":
			action = `COMPREPLY=($(compgen -f -- "$cur"))`
		case "dir":
			action = `COMPREPLY=($(compgen -d -- "$cur"))`
		case "value":
			action = `:` // free text: nothing to offer
		default:
			action = `COMPREPLY=($(compgen -W "` + a + `" -- "$cur"))`
		}
		fmt.Fprintf(&b, "        %s) %s; return 0 ;;\n", strings.Join(byArg[a], "|"), action)
	}
	b.WriteString(`    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
}
complete -o filenames -o bashdefault -F _echelon echelon
`)
	return b.String()
}

// flagSpellings are --name and, when it has one, -s.
func flagSpellings(f compFlag) []string {
	if f.short != "" {
		return []string{"--" + f.name, "-" + f.short}
	}
	return []string{"--" + f.name}
}

func zshCompletion() string {
	var b strings.Builder
	b.WriteString(`#compdef echelon
# zsh completion for echelon: echelon completion zsh > "${fpath[1]}/_echelon"
_echelon() {
  local -a cmds
  cmds=(
`)
	for _, c := range completionCommands() {
		fmt.Fprintf(&b, "    %s\n", zshQuote(c+":"+commands[c].summary))
	}
	b.WriteString(`  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'echelon command' cmds
    return
  fi
  local cmd=$words[2]
  shift words
  (( CURRENT-- ))
  case $cmd in
`)
	for _, c := range completionCommands() {
		var specs []string
		for _, f := range completionFlags[c] {
			rep := ""
			if f.name == "var" || f.name == "var-file" {
				rep = "*" // repeatable
			}
			var arg string
			switch f.arg {
			case "":
			case "file":
				arg = ":file:_files"
			case "dir":
				arg = ":directory:_files -/"
			case "value":
				arg = ":" + f.name + ": "
			default:
				arg = ":" + f.name + ":(" + f.arg + ")"
			}
			help := "[" + strings.ReplaceAll(f.help, "'", "") + "]"
			if f.short != "" {
				specs = append(specs, zshQuote("(-"+f.short+" --"+f.name+")"+"-"+f.short+help+arg))
				specs = append(specs, zshQuote("(-"+f.short+" --"+f.name+")"+"--"+f.name+help+arg))
				continue
			}
			specs = append(specs, zshQuote(rep+"--"+f.name+help+arg))
		}
		specs = append(specs, zshQuote("--help[show the command's flags]"))
		switch c {
		case "completion":
			specs = append(specs, zshQuote("1:shell:("+strings.Join(completionShells, " ")+")"))
		default:
			specs = append(specs, zshQuote("*:file:_files"))
		}
		fmt.Fprintf(&b, "    %s)\n      _arguments \\\n        %s\n      ;;\n", c, strings.Join(specs, " \\\n        "))
	}
	b.WriteString(`  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _echelon "$@"
else
  compdef _echelon echelon
fi
`)
	return b.String()
}

// zshQuote single-quotes s for zsh (and fish): ' becomes '\”.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func fishCompletion() string {
	var b strings.Builder
	cmds := strings.Join(completionCommands(), " ")
	fmt.Fprintf(&b, "# fish completion for echelon: echelon completion fish > ~/.config/fish/completions/echelon.fish\n")
	fmt.Fprintf(&b, "complete -c echelon -f\n")
	top := "not __fish_seen_subcommand_from " + cmds
	for _, c := range completionCommands() {
		fmt.Fprintf(&b, "complete -c echelon -n %s -a %s -d %s\n", zshQuote(top), c, zshQuote(commands[c].summary))
	}
	fmt.Fprintf(&b, "complete -c echelon -n %s -l version -d 'print the version'\n", zshQuote(top))
	fmt.Fprintf(&b, "complete -c echelon -n %s -l help -d 'show the commands'\n", zshQuote(top))
	for _, c := range completionCommands() {
		cond := zshQuote("__fish_seen_subcommand_from " + c)
		if c == "completion" {
			fmt.Fprintf(&b, "complete -c echelon -n %s -a %s\n", cond, zshQuote(strings.Join(completionShells, " ")))
		} else {
			fmt.Fprintf(&b, "complete -c echelon -n %s -F\n", cond) // specs and plans are files
		}
		for _, f := range completionFlags[c] {
			line := fmt.Sprintf("complete -c echelon -n %s -l %s", cond, f.name)
			if f.short != "" {
				line += " -s " + f.short
			}
			switch f.arg {
			case "":
			case "file", "dir":
				line += " -r -F"
			case "value":
				line += " -r"
			default:
				line += " -r -a " + zshQuote(f.arg)
			}
			b.WriteString(line + " -d " + zshQuote(f.help) + "\n")
		}
		fmt.Fprintf(&b, "complete -c echelon -n %s -l help -d 'show the flags'\n", cond)
	}
	return b.String()
}
