package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDirLocksTornWriteKeepsLocks: another process was killed (or ran out
// of disk) half-way through writing its change to the table. The table is
// not thrown away with it: a live holder's EXCLUSIVE lock still refuses
// everyone else, the torn bytes are cut off, and what is written after
// them reads back.
func TestDirLocksTornWriteKeepsLocks(t *testing.T) {
	dir := t.TempDir()
	a, err := NewDirLocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	relX, ok, err := a.TryAcquire("A", []string{"x"}, nil)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	defer relX()
	f, err := os.OpenFile(filepath.Join(dir, "table.json"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"acquire":{"id":"torn","owner":"C","exclusive":["y"`)
	f.Close()

	b, err := NewDirLocks(dir) // another process
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok, err := b.TryAcquire("B", []string{"x"}, nil); err != nil || ok {
		t.Fatalf("took x while A holds it (ok %v, err %v): the torn write discarded A's lock", ok, err)
	}
	relY, ok, err := b.TryAcquire("B", []string{"y"}, nil)
	if err != nil || !ok {
		t.Fatalf("y (named only by the torn record): %v %v", ok, err)
	}
	defer relY()
	var owners []string
	for _, h := range lockHolders(t, dir) {
		owners = append(owners, h.Owner+":"+strings.Join(h.Exclusive, ","))
	}
	if got := strings.Join(owners, " "); got != "A:x B:y" && got != "B:y A:x" {
		t.Errorf("holders %q, want A:x and B:y", got)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "table.json"))
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("table line %d does not parse: %s", i+1, line)
		}
	}
}

// TestDirLocksCorruptFailsClosed: a table damaged other than by a torn
// last record is never read as empty: no lock is granted, and the error
// names the file and line.
func TestDirLocksCorruptFailsClosed(t *testing.T) {
	host, _ := os.Hostname()
	holder := fmt.Sprintf(`{"id":"h","owner":"A","host":%q,"pid":%d,"exclusive":["x"],"shared":[]}`, host, os.Getpid())
	for _, tc := range []struct{ name, table, where string }{
		// An earlier echelon rewrote the table in place: killed between the
		// write and the truncate, a longer old table's tail follows.
		{"rewritten in place, not truncated", `{"holders":[` + holder + `]}` + `,{"id":"old"}]}`, ":1:"},
		{"damaged snapshot", `{"generation":3,"holders":[` + holder + "\n", ":1:"},
		{"damaged record", `{"generation":3,"holders":[]}` + "\n" + `{"acquire":` + holder + "}\n" + "\x00\x00\x00\n" + `{"release":"h"}` + "\n", ":3:"},
		{"not a record", `{"generation":3,"holders":[]}` + "\n" + `{"what":1}` + "\n", ":2:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "table.json")
			if err := os.WriteFile(path, []byte(tc.table), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := NewDirLocks(dir)
			if err == nil {
				defer l.Close()
				_, ok, err2 := l.TryAcquire("B", []string{"x"}, nil)
				if ok {
					t.Fatal("granted a lock from a table that cannot be read")
				}
				err = err2
			}
			if err == nil || !strings.Contains(err.Error(), path+tc.where) {
				t.Errorf("error %v, want one naming %s%s", err, path, tc.where)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.table {
				t.Errorf("the damaged table was changed:\n%q", b)
			}
		})
	}
}

// TestDirLocksCompaction: the records are folded into a new snapshot
// (written aside and renamed) once they outnumber the holders, dead
// holders dropped; nothing is left beside the table.
func TestDirLocksCompaction(t *testing.T) {
	dir := t.TempDir()
	l, err := NewDirLocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rel, ok, err := l.TryAcquire("keep", []string{"k"}, nil)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	defer rel()
	for i := range 3000 {
		r, ok, err := l.TryAcquire("o", []string{"n" + strconv.Itoa(i)}, []string{"k2"})
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if err := r(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(filepath.Join(dir, "table.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	lines := 0
	var snap lockTable
	for sc.Scan() {
		if lines == 0 {
			if err := json.Unmarshal(sc.Bytes(), &snap); err != nil {
				t.Fatal(err)
			}
		}
		lines++
	}
	if snap.Generation < 3 || lines > 1025 {
		t.Errorf("after 6000 changes: generation %d, %d lines; want compactions (generation >= 3, at most 1024 records)", snap.Generation, lines)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files in the lock directory: %v, want table.json alone", names)
	}
	if hs := lockHolders(t, dir); len(hs) != 1 || hs[0].Owner != "keep" {
		t.Errorf("holders %+v, want keep's alone", hs)
	}
}

// procIO returns this process's bytes read and written through system
// calls (rchar, wchar in /proc/self/io): what the lock store decodes and
// writes, whatever its implementation.
func procIO(t testing.TB) (r, w int64) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skip("no /proc/self/io")
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "rchar":
			r = n
		case "wchar":
			w = n
		}
	}
	return r, w
}

// lockCostPerOp holds n locks, then runs cycles of acquire and release of
// one more set, alternating two stores on the directory (two processes:
// each reads what the other wrote), and returns the bytes read and written
// per acquire or release. It gives up early, returning what it measured,
// once the bytes pass budget.
func lockCostPerOp(t testing.TB, n, cycles int, budget int64) (read, written float64) {
	dir := t.(interface{ TempDir() string }).TempDir()
	var stores [2]*DirLocks
	for i := range stores {
		l, err := NewDirLocks(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		stores[i] = l
	}
	for i := range n {
		if _, ok, err := stores[i%2].TryAcquire("hold", []string{fmt.Sprintf("held/%06d", i)}, []string{"base"}); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	r0, w0 := procIO(t)
	ops := 0
	for i := range cycles {
		rel, ok, err := stores[i%2].TryAcquire("cycle", []string{fmt.Sprintf("cycle/%06d", i)}, []string{"base"})
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if err := rel(); err != nil {
			t.Fatal(err)
		}
		ops += 2
		if i%256 == 255 {
			if r, w := procIO(t); r-r0+w-w0 > budget {
				break
			}
		}
	}
	r1, w1 := procIO(t)
	return float64(r1-r0) / float64(ops), float64(w1-w0) / float64(ops)
}

// TestDirLocksCostIndependentOfHolders: the bytes read and written per
// acquire or release are the same with 10 and with 10,000 holders. The
// cycles span a compaction at 10,000 holders (one per 20,000
// records), so its cost is counted, amortised as it is in a run.
func TestDirLocksCostIndependentOfHolders(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const cycles = 12000
	r10, w10 := lockCostPerOp(t, 10, cycles, 1<<40)
	// Three times the small table's cost is the budget: a store whose cost
	// grows with the holders stops early and fails.
	budget := int64(3 * (r10 + w10) * 2 * cycles)
	r10k, w10k := lockCostPerOp(t, 10000, cycles, budget)
	t.Logf("bytes per acquire/release: 10 holders read %.0f written %.0f; 10,000 holders read %.0f written %.0f", r10, w10, r10k, w10k)
	if r10k+w10k > 3*(r10+w10) {
		t.Errorf("with 10,000 holders an acquire or release costs %.0f bytes, %.1fx the %.0f with 10: the cost grows with the holders",
			r10k+w10k, (r10k+w10k)/(r10+w10), r10+w10)
	}
}

// BenchmarkDirLocks: one acquire and release with 10 and 10,000 other
// holders in the table.
func BenchmarkDirLocks(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("holders=%d", n), func(b *testing.B) {
			l, err := NewDirLocks(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			for i := range n {
				if _, ok, err := l.TryAcquire("hold", []string{fmt.Sprintf("held/%06d", i)}, []string{"base"}); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
			i := 0
			for b.Loop() {
				rel, ok, err := l.TryAcquire("cycle", []string{"cycle/" + strconv.Itoa(i)}, []string{"base"})
				if err != nil || !ok {
					b.Fatal(ok, err)
				}
				rel()
				i++
			}
		})
	}
}
