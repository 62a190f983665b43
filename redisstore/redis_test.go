package redisstore

// Test helpers: the shared test Redis (DESKIE_TEST_REDIS) and private
// redis-server processes for the tests that stop and restart one. Exported
// (only in the test binary) for the external test package's integration tests.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisEnv names the variable that holds the test Redis's address.
const RedisEnv = "DESKIE_TEST_REDIS"

const howToRun = "source .ci/redis.sh && redis_start (from the repository root; it exports " + RedisEnv + ")"

// InCI reports whether the tests run in CI (CI set, as every CI service does):
// there a missing Redis fails the tests instead of skipping them.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

// NeedRedis skips the test (fails it in CI) with how to provide what is missing.
func NeedRedis(t testing.TB, missing string) {
	t.Helper()
	msg := missing + "; run: " + howToRun
	if InCI() {
		t.Fatal("redisstore tests need Redis in CI: " + msg)
	}
	t.Skip(msg)
}

// RedisAddr returns the shared test Redis's address, or skips (fails in CI).
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(RedisEnv)
	if addr == "" {
		NeedRedis(t, RedisEnv+" is not set")
	}
	return addr
}

// DialRedis returns a go-redis client on addr, closed when the test ends.
func DialRedis(t testing.TB, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// UniquePrefix returns a key prefix no other test uses.
func UniquePrefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "deskie-test:" + hex.EncodeToString(b[:]) + ":"
}

// NewTestStore returns a Store on the shared test Redis under a prefix of its
// own (its keys are deleted when the test ends), and its client.
func NewTestStore(t testing.TB, opts ...Option) (*Store, *redis.Client) {
	t.Helper()
	rdb := DialRedis(t, RedisAddr(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("%s=%s does not answer PING: %v; run: %s", RedisEnv, rdb.Options().Addr, err, howToRun)
	}
	prefix := UniquePrefix(t)
	t.Cleanup(func() { DeletePrefix(t, rdb, prefix) })
	return New(rdb, append([]Option{WithPrefix(prefix)}, opts...)...), rdb
}

// DeletePrefix deletes every key under prefix.
func DeletePrefix(t testing.TB, rdb redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("cleaning up %s*: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		_ = rdb.Del(ctx, keys...).Err()
	}
}

// RedisServer is a private redis-server process the test controls: it can be
// stopped (killed, like a crash) and started again on the same port.
type RedisServer struct {
	Addr string

	t    testing.TB
	bin  string
	port int
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	waitCh chan error // the running server's exit
}

// StartRedisServer starts a redis-server from PATH on a free loopback port,
// persistence off, and stops it when the test ends. It skips (fails in CI) when
// redis-server is not installed.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		NeedRedis(t, "redis-server is not in PATH")
	}
	r := &RedisServer{t: t, bin: bin, dir: t.TempDir()}
	for attempt := 0; ; attempt++ {
		r.port = freePort(t)
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
		err := r.start()
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("redis-server did not start: %v", err)
		}
	}
	t.Cleanup(r.Stop)
	return r
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func (r *RedisServer) start() error {
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pingRaw(r.Addr) {
			r.mu.Lock()
			r.cmd, r.waitCh = cmd, exited
			r.mu.Unlock()
			return nil
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			return fmt.Errorf("redis-server exited (%w): %s", err, lastLines(string(log), 3))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d did not answer PING within 10 s", r.port)
		}
		time.Sleep(10 * time.Millisecond) // polling a process's readiness, bounded above
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// pingRaw sends PING over a fresh connection and reports whether +PONG came back.
func pingRaw(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := conn.Read(buf)
	return string(buf[:n]) == "+PONG\r\n"
}

// Stop kills the server (SIGKILL, like a crash) and waits until it is gone.
// Stopping a stopped server does nothing.
func (r *RedisServer) Stop() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.waitCh
	r.cmd, r.waitCh = nil, nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts the server again on the same port, empty (its scripts and keys
// are gone, as after a crash without persistence).
func (r *RedisServer) Restart() {
	r.t.Helper()
	r.Stop()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = r.start(); err == nil {
			return
		}
	}
	r.t.Fatalf("redis-server did not restart on port %d: %v", r.port, err)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// TestMain silences go-redis's own log lines (dial failures the tests cause on
// purpose).
func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}
