package ocppadapter

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// pooledReadConn hands out exactly the bytes sent, in order, whatever the
// sizes of the writes and of the reads, holds no buffer once they are
// consumed, and reports EOF and closing.
func TestPooledReadConn(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16,000 bytes
	for _, tc := range []struct {
		name   string
		writes [][]byte
		readSz int
	}{
		{"one small frame, large reads", [][]byte{[]byte("hello")}, 512},
		{"small reads drain the chunk", [][]byte{[]byte("hello, charger")}, 3},
		{"several writes", [][]byte{[]byte("a"), []byte("bc"), []byte("def")}, 128},
		{"more than a chunk, small reads", [][]byte{big}, 100},
		{"more than a chunk, reads of a chunk or more go direct", [][]byte{big}, readChunkSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tcpPair(t)
			pc := newPooledReadConn(s)
			p, ok := pc.(*pooledReadConn)
			if !ok {
				t.Fatalf("TCP connection not wrapped: %T", pc)
			}
			var want []byte
			go func() {
				for _, w := range tc.writes {
					c.Write(w)
					time.Sleep(time.Millisecond)
				}
				c.(*net.TCPConn).CloseWrite()
			}()
			for _, w := range tc.writes {
				want = append(want, w...)
			}
			var got []byte
			buf := make([]byte, tc.readSz)
			for {
				n, err := pc.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d (equal prefix: %v)", len(got), len(want), bytes.HasPrefix(want, got))
			}
			if p.chunk != nil {
				t.Error("a buffer is still held after everything was read")
			}
		})
	}
}

func TestPooledReadConnClosed(t *testing.T) {
	s, _ := tcpPair(t)
	pc := newPooledReadConn(s)
	done := make(chan error, 1)
	go func() {
		_, err := pc.Read(make([]byte, 16))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed connection: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read did not end when the connection was closed")
	}
}

// Bytes net/http buffered with the handshake come first.
func TestEarlyConn(t *testing.T) {
	s, c := tcpPair(t)
	ec := &earlyConn{Conn: newPooledReadConn(s), early: []byte("early")}
	go func() {
		c.Write([]byte(" and late"))
		c.Close()
	}()
	got, err := io.ReadAll(ec)
	if err != nil || string(got) != "early and late" {
		t.Fatalf("read %q, %v", got, err)
	}
}
