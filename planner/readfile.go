package planner

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/echelonhq/echelon/lang"
)

// MaxManifestSize caps a local kubectl manifest (a file; a directory's
// files are kubectl's to read): checked when compiling, so apply never
// hands kubectl something the digest refused.
const MaxManifestSize = 64 << 20

// MaxPlanSize caps a plan file (a 100,000-operation plan is about a tenth
// of it).
const MaxPlanSize = 1 << 30

// openRegular opens path for reading if it is a regular file, without
// blocking on a FIFO swapped in after the check, and returns it with its
// info. Devices (/dev/zero, /dev/stdin), FIFOs, sockets and directories
// are refused.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil, notRegular(path, info)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	if info, err = f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = notRegular(path, info)
		}
		return nil, nil, err
	}
	return f, info, nil
}

func notRegular(path string, info os.FileInfo) error {
	return fmt.Errorf("%s is %s, not a regular file or directory; echelon reads only regular files", path, lang.FileKind(info.Mode()))
}

// digestFile is the sha256 of a regular file's content, read as a stream
// (a 2 GB file in a terraform dir costs time, not memory), and whether
// the file is an echelon plan (see IsPlanJSON).
func digestFile(path string) (digest string, isPlan bool, err error) {
	f, _, err := openRegular(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(256)
	candidate := looksLikePlanHead(head)
	if _, err := io.Copy(h, br); err != nil {
		return "", false, fmt.Errorf("reading %s: %w", path, err)
	}
	if candidate {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", false, fmt.Errorf("reading %s: %w", path, err)
		}
		isPlan = hasTopLevelKey(bufio.NewReader(f), "plan_digest")
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), isPlan, nil
}

// looksLikePlanHead says whether a file's first bytes open a JSON object
// whose first key is format_version, as every plan's do.
func looksLikePlanHead(head []byte) bool {
	t := bytes.TrimLeft(head, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return false
	}
	t = bytes.TrimLeft(t[1:], " \t\r\n")
	return bytes.HasPrefix(t, []byte(`"format_version"`))
}

// hasTopLevelKey streams a JSON object and says whether it is valid JSON
// with key at its top level, holding no more than one token in memory.
func hasTopLevelKey(r io.Reader, key string) bool {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	found := false
	depth := 1
	expectKey := true
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				depth++
			default:
				depth--
			}
		case string:
			if depth == 1 && expectKey && t == key {
				found = true
			}
		}
		// At the top level keys and values alternate; dec.More and the
		// decoder's own state keep inner levels apart.
		if depth == 1 {
			if _, isDelim := tok.(json.Delim); isDelim {
				expectKey = true // a nested value just closed
			} else {
				expectKey = !expectKey
			}
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return false
	}
	return found
}

// readSmall reads a regular file of at most limit bytes whole, in one
// allocation of its size as os.ReadFile does.
func readSmall(path string, limit int64) ([]byte, error) {
	f, info, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooBig := fmt.Errorf("%s is larger than %d MiB, the limit for it", path, limit>>20)
	if info.Size() > limit {
		return nil, tooBig
	}
	b := make([]byte, 0, info.Size()+1) // +1: EOF is seen without growing
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > limit {
			return nil, tooBig // it grew while being read
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// readPlanFile reads a plan file: a regular file of at most MaxPlanSize
// (apply /dev/zero read without end, a FIFO blocked). A directory gets
// the file system's own error.
func readPlanFile(path string) ([]byte, error) {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return os.ReadFile(path)
	}
	b, err := readSmall(path, MaxPlanSize)
	if err != nil {
		return nil, fmt.Errorf("reading plan: %w", err)
	}
	return b, nil
}
