package throttleapi

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestBucketThrottles(t *testing.T) {
	s, err := Start("127.0.0.1:0", 0.5, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	codes := []int{}
	var last *http.Response
	var body string
	for range 5 {
		resp, err := http.Get(s.URL + "/call/deploy?region=eu")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		last, body = resp, string(b)
	}
	want := []int{200, 200, 200, 429, 429}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes %v, want %v (burst 3)", codes, want)
		}
	}
	ra, err := strconv.Atoi(last.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q, want 1-2 s at 0.5 tokens/s", last.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "429 Too Many Requests") || !strings.Contains(body, "Retry-After: ") {
		t.Errorf("body %q", body)
	}
	// Region scope: another region has a bucket of its own.
	resp, err := http.Get(s.URL + "/call/deploy?region=us&scope=region")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("region-scoped bucket: %d", resp.StatusCode)
	}
	st := s.Stats()
	if st.Requests != 6 || st.OK != 4 || st.Throttled != 2 {
		t.Errorf("stats %+v", st)
	}
}
