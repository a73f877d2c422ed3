package main

import (
	"strings"
	"testing"
)

// TestRerunCommand: a hint's command names the store only when --store
// was given (ECHELON_STORE carries over by itself), never its password,
// and never a --var value.
func TestRerunCommand(t *testing.T) {
	t.Setenv("ECHELON_STORE", "postgres://env@db/x")
	where := ""
	stf := storeFlags{where: &where}
	r := rerunOf("p.json", "st", &stf, "", specFlags{vars: []string{"token=Sekr3t"}})
	r.workers, r.labels = true, []string{"region=mars", "tier=a b"}
	if got, want := r.command("apply")+r.note(), "echelon apply p.json --state st --workers --worker-label region=mars --worker-label 'tier=a b' (with the same --var values)"; got != want {
		t.Errorf("from the environment:\n got %s\nwant %s", got, want)
	}
	where = "postgres://u:hunter2@db.example/echelon?sslmode=disable&x=1"
	r = rerunOf("p.json", "", &stf, "s.hcl", specFlags{varFiles: []string{"a.tfvars"}})
	got := r.command("plan")
	if want := "echelon plan p.json --store 'postgres://u@db.example/echelon?sslmode=disable&x=1' --spec s.hcl --var-file a.tfvars"; got != want {
		t.Errorf("with --store:\n got %s\nwant %s", got, want)
	}
	if strings.Contains(got, "hunter2") {
		t.Errorf("the password is in %s", got)
	}
	if got, want := r.command("logs", "a/b"), "echelon logs p.json a/b --store 'postgres://u@db.example/echelon?sslmode=disable&x=1'"; got != want {
		t.Errorf("logs:\n got %s\nwant %s", got, want)
	}
	if got, want := r.note(), " (with the store's password in PGPASSWORD or ~/.pgpass)"; got != want {
		t.Errorf("note:\n got %q\nwant %q", got, want)
	}
	// A password= parameter is left out too, never printed nor masked
	// (xxxxx would be tried as the password).
	where = "postgres:///echelon?host=/run/pg&user=u&password=hunter2"
	r = rerunOf("p.json", "", &stf, "", specFlags{})
	if got, want := r.command("apply"), "echelon apply p.json --store 'postgres:///echelon?host=%2Frun%2Fpg&user=u'"; got != want {
		t.Errorf("password= parameter:\n got %s\nwant %s", got, want)
	}
}
