package throttleapi

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Server is a running throttling API.
type Server struct {
	URL string

	rate  rate.Limit
	burst int
	srv   *http.Server
	ln    net.Listener

	mu       sync.Mutex
	buckets  map[string]*rate.Limiter
	stats    Stats
	inFlight int
}

// Stats count what the server answered.
type Stats struct {
	Requests  int            `json:"requests"`
	OK        int            `json:"ok"`
	Throttled int            `json:"throttled"`
	PerBucket map[string]int `json:"per_bucket"` // requests per bucket
	Peak      int            `json:"peak_in_flight"`
}

// Start listens on addr (e.g. "127.0.0.1:0") with buckets refilling at
// perSecond up to burst. Requests may hold for hold before answering, to
// model a slow API.
func Start(addr string, perSecond float64, burst int, hold time.Duration) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{rate: rate.Limit(perSecond), burst: burst, ln: ln,
		buckets: map[string]*rate.Limiter{}, stats: Stats{PerBucket: map[string]int{}}}
	s.URL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/call/{bucket}", func(w http.ResponseWriter, r *http.Request) { s.call(w, r, hold) })
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Stats())
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *Server) call(w http.ResponseWriter, r *http.Request, hold time.Duration) {
	key := r.PathValue("bucket")
	if region := r.URL.Query().Get("region"); region != "" && r.URL.Query().Get("scope") == "region" {
		key += "/" + region
	}
	s.mu.Lock()
	lim := s.buckets[key]
	if lim == nil {
		lim = rate.NewLimiter(s.rate, s.burst)
		s.buckets[key] = lim
	}
	s.stats.Requests++
	s.stats.PerBucket[key]++
	res := lim.Reserve()
	delay := res.Delay()
	if delay > 0 {
		// Refused: give the token back, say when one will be there.
		res.Cancel()
		s.stats.Throttled++
		s.mu.Unlock()
		secs := int(math.Ceil(delay.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		http.Error(w, fmt.Sprintf("429 Too Many Requests: bucket %s is empty, Retry-After: %d", key, secs), http.StatusTooManyRequests)
		return
	}
	s.stats.OK++
	s.inFlight++
	s.stats.Peak = max(s.stats.Peak, s.inFlight)
	s.mu.Unlock()
	time.Sleep(hold)
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	fmt.Fprintln(w, "ok")
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.PerBucket = make(map[string]int, len(s.stats.PerBucket))
	for k, v := range s.stats.PerBucket {
		st.PerBucket[k] = v
	}
	return st
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }
