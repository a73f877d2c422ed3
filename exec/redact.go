package exec

import (
	"bytes"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"
)

// Masked is what the executor writes in place of a sensitive value.
const Masked = "(sensitive)"

// redactor masks sensitive values (Options.Secrets) in everything the
// executor writes: log files, journal records, events and the summary.
// Every non-empty secret is masked, however short: a one-character secret
// makes logs hard to read, but showing it would be worse. Where two secrets
// overlap, the earliest match wins (the longer one at the same position);
// pieces of the other may stay visible.
type redactor struct {
	secrets []string // longest first
	maxLen  int
}

// newRedactor returns nil when there is nothing to mask, so callers can
// keep their fast paths. Each secret is also masked in its JSON-escaped
// form (a secret with a quote or backslash, as a JSON log line holds it).
func newRedactor(secrets []string) *redactor {
	seen := map[string]bool{}
	var list []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			list = append(list, s)
		}
	}
	for _, s := range secrets {
		add(s)
		if b, err := json.Marshal(s); err == nil {
			add(strings.TrimSuffix(strings.TrimPrefix(string(b), `"`), `"`))
		}
	}
	if len(list) == 0 {
		return nil
	}
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i] < list[j]
	})
	return &redactor{secrets: list, maxLen: len(list[0])}
}

// String masks every secret in s.
func (r *redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	var out bytes.Buffer
	rest := r.mask(&out, []byte(s), true)
	out.Write(rest)
	return out.String()
}

// mask writes p to out with the secrets masked and returns the tail it held
// back (unless final): the longest end of p that may be the start of a
// secret the next write completes.
func (r *redactor) mask(out *bytes.Buffer, p []byte, final bool) []byte {
	for {
		hold := len(p)
		if !final {
			hold = r.partialStart(p)
		}
		pos, n := -1, 0
		for _, s := range r.secrets {
			i := bytes.Index(p, []byte(s))
			if i >= 0 && (pos < 0 || i < pos) {
				pos, n = i, len(s) // longest first: a tie keeps the longer
			}
		}
		if pos < 0 || pos >= hold {
			out.Write(p[:hold])
			return p[hold:]
		}
		out.Write(p[:pos])
		out.WriteString(Masked)
		p = p[pos+n:]
	}
}

// partialStart is the first index i such that p[i:] is a proper prefix of
// a secret, or len(p).
func (r *redactor) partialStart(p []byte) int {
	from := max(0, len(p)-r.maxLen+1)
	for i := from; i < len(p); i++ {
		tail := p[i:]
		for _, s := range r.secrets {
			if len(s) > len(tail) && strings.HasPrefix(s, string(tail)) {
				return i
			}
		}
	}
	return len(p)
}

// event masks the free-text fields of an event.
func (r *redactor) event(e Event) Event {
	if r == nil {
		return e
	}
	e.Error = r.String(e.Error)
	e.Message = r.String(e.Message)
	e.Resource = r.String(e.Resource)
	e.Log = r.String(e.Log)
	return e
}

// redactWriter masks secrets in a byte stream. A secret split across two
// writes is still masked: the end of a write that may start a secret is
// held back until the next write or Close.
type redactWriter struct {
	mu   sync.Mutex
	r    *redactor
	w    io.Writer
	held []byte
	out  bytes.Buffer
}

// newRedactWriter wraps w; with no secrets it returns w itself.
func newRedactWriter(w io.Writer, r *redactor) io.Writer {
	if r == nil {
		return w
	}
	return &redactWriter{r: r, w: w}
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	buf := append(rw.held, p...)
	rw.out.Reset()
	rest := rw.r.mask(&rw.out, buf, false)
	rw.held = append([]byte(nil), rest...)
	if rw.out.Len() > 0 {
		if _, err := rw.w.Write(rw.out.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what was held back (the stream ended: it is no secret).
func (rw *redactWriter) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.held) == 0 {
		return nil
	}
	rw.out.Reset()
	rest := rw.r.mask(&rw.out, rw.held, true)
	rw.out.Write(rest)
	rw.held = nil
	_, err := rw.w.Write(rw.out.Bytes())
	return err
}

// RedactWriter wraps w so that every secret written through it shows as
// "(sensitive)"; Flush must be called when the stream ends. apply uses it
// for its own output (summary, progress) with the secrets it gives Run.
func RedactWriter(w io.Writer, secrets []string) interface {
	io.Writer
	Flush() error
} {
	r := newRedactor(secrets)
	if r == nil {
		return nopFlusher{w}
	}
	return &redactWriter{r: r, w: w}
}

type nopFlusher struct{ io.Writer }

func (nopFlusher) Flush() error { return nil }
