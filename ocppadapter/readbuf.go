package ocppadapter

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// readChunkSize is the size of the pooled buffers that socket reads go
// into: most OCPP frames arrive whole in one read system call.
const readChunkSize = 4096

// readChunks holds the read buffers shared by all connections.
var readChunks = sync.Pool{New: func() any { b := make([]byte, readChunkSize); return &b }}

// pooledReadConn is a TCP connection whose reads borrow a pooled buffer
// only while bytes are waiting to be consumed. The WebSocket library keeps
// a small bufio.Reader on top of it (for frame headers) and reads
// payloads through it; an idle connection, blocked waiting for the next
// frame, holds no read buffer: it waits for readiness through
// syscall.RawConn and takes a buffer only when the socket has data.
//
// Reads run on one goroutine at a time (the connection's reader); writes
// and everything else go straight to the embedded connection. Read is
// kept small: it is on the stack of every idle connection's goroutine.
type pooledReadConn struct {
	net.Conn
	raw    syscall.RawConn
	readFn func(fd uintptr) bool // c.readSocket, bound once

	chunk *[]byte // nil while nothing is buffered
	r, w  int     // unread bytes are (*chunk)[r:w]
	rerr  error   // of the last read system call
}

// newPooledReadConn wraps c if it is a plain TCP connection whose
// descriptor can be waited on; otherwise it returns c unchanged.
func newPooledReadConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	pc := &pooledReadConn{Conn: c, raw: raw}
	pc.readFn = pc.readSocket
	return pc
}

func (c *pooledReadConn) Read(p []byte) (int, error) {
	if c.chunk == nil {
		if len(p) >= readChunkSize {
			// A large payload read: straight into the caller's buffer.
			return c.Conn.Read(p)
		}
		if err := c.raw.Read(c.readFn); err != nil {
			return 0, err // closed, or past a deadline: a *net.OpError
		}
		if err := c.readFailed(); err != nil {
			return 0, err
		}
	}
	return c.drain(p), nil
}

// readSocket is the syscall.RawConn callback: it reads what the socket
// has into a pooled chunk, or returns false (wait for data) holding none.
func (c *pooledReadConn) readSocket(fd uintptr) bool {
	chunk := readChunks.Get().(*[]byte)
	var (
		n   int
		err error
	)
	for {
		n, err = syscall.Read(int(fd), *chunk)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		readChunks.Put(chunk)
		return false
	}
	if err != nil || n <= 0 {
		readChunks.Put(chunk)
		c.rerr = err
		if err == nil {
			c.rerr = io.EOF
		}
		return true
	}
	c.chunk, c.r, c.w = chunk, 0, n
	return true
}

// readFailed returns the error of a read that brought no bytes.
func (c *pooledReadConn) readFailed() error {
	err := c.rerr
	if err == nil {
		return nil
	}
	c.rerr = nil
	if err == io.EOF {
		return err
	}
	return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", err)}
}

// drain copies buffered bytes to p and releases the buffer once empty.
func (c *pooledReadConn) drain(p []byte) int {
	n := copy(p, (*c.chunk)[c.r:c.w])
	c.r += n
	if c.r == c.w {
		readChunks.Put(c.chunk)
		c.chunk = nil
	}
	return n
}
