package ocppbench

import (
	"fmt"
	"syscall"
)

// RaiseOpenFiles raises the soft limit on open files to the hard limit and
// reports the new soft limit. Each connection is a file on both sides.
func RaiseOpenFiles() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("ocppbench: getrlimit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("ocppbench: setrlimit: %w", err)
		}
	}
	return l.Cur, nil
}
