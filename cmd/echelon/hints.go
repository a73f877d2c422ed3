package main

import (
	"net/url"
	"strings"

	"github.com/echelonhq/echelon/store"
)

// rerun is what a hint that names a command (apply's "continue with",
// plan's "echelon apply ...", report's "echelon logs ...") needs to reach
// the same run: the flags the user gave that choose the store, the state
// directory, the spec and where steps run. Every such hint is built by
// rerun.command, so none of them drops one (a hint without --store ran
// outside the store).
type rerun struct {
	plan     string   // the plan file, as given
	state    string   // --state ("" none)
	store    string   // --store as given by flag: ECHELON_STORE carries over by itself
	spec     string   // --spec ("" none)
	varFiles []string // --var-file, in order (names only)
	vars     bool     // --var given: never printed (values may be secrets)
	workers  bool     // --workers
	labels   []string // --worker-label, in order
}

// rerunOf is the rerun of a command's flags: state is the state directory
// to name (--state as given, or the one the command resolved).
func rerunOf(plan, state string, stf *storeFlags, spec string, sf specFlags) rerun {
	r := rerun{plan: plan, state: state, spec: spec, varFiles: sf.varFiles, vars: len(sf.vars) > 0}
	if stf != nil && stf.where != nil {
		r.store = *stf.where
	}
	return r
}

// command is `echelon CMD PLAN ARGS... FLAGS` (ARGS: positional) with the flags CMD takes
// (apply: all of them; plan: no workers; logs: only the store's and the
// state directory's), its arguments shell-quoted where needed, and the
// URL's password masked (never printed). --var values are not named: a
// hint whose run had them ends "(with the same --var values)", see note.
func (r rerun) command(cmd string, args ...string) string {
	parts := []string{"echelon", cmd, shellQuote(r.plan)}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	if r.state != "" {
		parts = append(parts, "--state", shellQuote(r.state))
	}
	if store.IsURL(r.store) {
		u, _ := withoutPassword(r.store)
		parts = append(parts, "--store", shellQuote(u))
	}
	if cmd == "logs" {
		return strings.Join(parts, " ")
	}
	if r.spec != "" {
		parts = append(parts, "--spec", shellQuote(r.spec))
	}
	for _, f := range r.varFiles {
		parts = append(parts, "--var-file", shellQuote(f))
	}
	if cmd == "apply" && r.workers {
		parts = append(parts, "--workers")
		for _, l := range r.labels {
			parts = append(parts, "--worker-label", shellQuote(l))
		}
	}
	return strings.Join(parts, " ")
}

// note is what follows a command that cannot carry everything: the --var
// values, which are never printed.
func (r rerun) note() string {
	var with []string
	if r.vars {
		with = append(with, "the same --var values")
	}
	if _, had := withoutPassword(r.store); had && store.IsURL(r.store) {
		with = append(with, "the store's password in PGPASSWORD or ~/.pgpass")
	}
	if len(with) == 0 {
		return ""
	}
	return " (with " + strings.Join(with, ", and ") + ")"
}

// withoutPassword is a URL without its password (the user part's or a
// password= parameter), and whether it had one: a hint never prints a
// password, and a masked one (xxxxx) would be tried as the password.
// PostgreSQL's clients then take it from PGPASSWORD or ~/.pgpass, which
// the hint's note names.
func withoutPassword(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "URL", false
	}
	had := false
	if _, ok := u.User.Password(); ok {
		u.User = url.User(u.User.Username())
		had = true
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
		had = true
	}
	if !had {
		return raw, false
	}
	return u.String(), true
}

// shellQuote is s as one word for a POSIX shell: as it is when it is made
// of safe characters only, else in single quotes.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_-./:=@%+,", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
