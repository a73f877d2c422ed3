//go:build linux || darwin || freebsd || netbsd || openbsd

package views

import (
	"syscall"
	"unsafe"
)

// termSize is the terminal's width and height in characters, or zeros when
// fd is not a terminal. A raw TIOCGWINSZ: golang.org/x/term is not a
// dependency for this one call.
func termSize(fd uintptr) (cols, rows int) {
	var ws struct{ Row, Col, X, Y uint16 }
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws))); errno != 0 {
		return 0, 0
	}
	return int(ws.Col), int(ws.Row)
}
