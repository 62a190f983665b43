package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the tests run the real program: the test binary, started with
// DESKIE_TEST_MAIN=1, is the deskie command (main, signals and exit status).
func TestMain(m *testing.M) {
	if os.Getenv("DESKIE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// process returns the deskie command as a process.
func process(t *testing.T, environ map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "DESKIE_TEST_MAIN=1", "DESKIE_BASE_URL=", "DESKIE_SUBDOMAIN=", "DESKIE_EMAIL=", "DESKIE_API_KEY=")
	for k, v := range environ {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// startFake runs `deskie fake --json` as a process on a free port and returns
// what it printed; the process is interrupted when the test ends, and must exit 0.
func startFake(t *testing.T, args ...string) fakeOut {
	t.Helper()
	cmd := process(t, nil, append([]string{"fake", "--addr", "127.0.0.1:0", "--json"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("deskie fake after SIGTERM: %v (stderr %q)", err, stderr.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("deskie fake printed nothing: %v (stderr %q)", err, stderr.String())
	}
	var out fakeOut
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("deskie fake --json printed %q: %v", line, err)
	}
	return out
}

func (f fakeOut) env() map[string]string {
	return map[string]string{"DESKIE_BASE_URL": f.BaseURL, "DESKIE_EMAIL": f.Email, "DESKIE_API_KEY": f.APIKey}
}

// control POSTs to the fake's control API and decodes the answer into v.
func control(t *testing.T, f fakeOut, path string, body any, v any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(f.ControlURL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, msg)
	}
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFakeProcess runs the fake as its own process and drives it with the other
// commands (also as processes) and its control API.
func TestFakeProcess(t *testing.T) {
	f := startFake(t, "--channel", "sync")
	if f.Email != "agent@example.com" || f.APIKey != "deskietest-api-key" || f.Channel != "cch1" || f.ChannelType != "sync" ||
		f.ConsoleURL != f.BaseURL+"/console" || !strings.HasPrefix(f.BaseURL, "http://127.0.0.1:") {
		t.Fatalf("deskie fake printed %+v", f)
	}

	out, err := process(t, f.env(), "channels", "--json").Output()
	var channels []channelOut
	if err != nil || json.Unmarshal(out, &channels) != nil || len(channels) != 1 || channels[0].Code != "cch1" || channels[0].Type != "sync" {
		t.Fatalf("deskie channels: %v, %s", err, out)
	}

	out, err = process(t, f.env(), "send", "--json", "--channel", f.Channel, "--user", "u-1", "Hello from a script").Output()
	var sent sendOut
	if err != nil || json.Unmarshal(out, &sent) != nil || sent.Action != "created_case" || sent.CaseID == 0 {
		t.Fatalf("deskie send: %v, %s", err, out)
	}

	control(t, f, "close", map[string]any{"case_id": sent.CaseID}, nil)
	out, err = process(t, f.env(), "cases", "--json", "--channel", f.Channel).Output()
	var list casesOut
	if err != nil || json.Unmarshal(out, &list) != nil || list.TotalCount != 1 || list.Cases[0].Status != "closed" {
		t.Fatalf("deskie cases: %v, %s", err, out)
	}

	// The console is served by the fake itself.
	resp, err := http.Get(f.ConsoleURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`id="reply-text"`)) {
		t.Fatalf("GET /console: %d", resp.StatusCode)
	}

	// A wrong key: exit 1, one line, and the key is not in it.
	env := f.env()
	env["DESKIE_API_KEY"] = "not-the-key-4242"
	cmd := process(t, env, "channels")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || strings.Count(stderr.String(), "\n") != 1 || strings.Contains(stderr.String(), "4242") {
		t.Fatalf("wrong key: %v, stderr %q", err, stderr.String())
	}

	// A usage error: exit 2.
	err = process(t, f.env(), "send", "--user", "u-1", "hi").Run()
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("usage error: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFakeInProcess runs the fake through run() and stops it by canceling the
// context, as SIGINT does.
func TestFakeInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"fake", "--addr", "127.0.0.1:0", "--webhook", "http://127.0.0.1:9/hook", "--rate", "0"}, pw, &stderr, func(string) string { return "" })
		_ = pw.Close()
		done <- code
	}()
	text, err := io.ReadAll(io.LimitReader(readUntil(pr, "export "), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"base URL:     http://127.0.0.1:", "API key:      deskietest-api-key", "channel:      cch1 (async), webhook: http://127.0.0.1:9/hook", "/console", "/_fake/"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("deskie fake printed no %q:\n%s", want, text)
		}
	}
	cancel()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d after cancel; stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("deskie fake did not stop")
	}
}

// readUntil returns a reader of r's text up to the line that starts with prefix.
func readUntil(r io.Reader, prefix string) io.Reader {
	var b bytes.Buffer
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), prefix) {
			break
		}
	}
	return &b
}

func TestFakeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fake", "--channel", "email"}, "--channel must be sync or async"},
		{[]string{"fake", "--webhook", "ftp://x"}, "--webhook \"ftp://x\" is not an http(s) URL"},
		{[]string{"fake", "--addr", "8025"}, "--addr \"8025\" is not host:port"},
		{[]string{"fake", "--rate", "-1"}, "--rate must be 0"},
	} {
		r := cli(t, nil, tc.args...)
		if line := r.oneErrorLine(t); r.code != exitUsage || !strings.Contains(line, tc.want) {
			t.Errorf("%q: exit %d, %q", tc.args, r.code, line)
		}
	}
	// The port is taken: exit 1 with a hint.
	f := startFake(t)
	addr := strings.TrimPrefix(f.BaseURL, "http://")
	r := cli(t, nil, "fake", "--addr", addr)
	if line := r.oneErrorLine(t); r.code != exitFailure || !strings.Contains(line, "address already in use") {
		t.Errorf("port taken: exit %d, %q", r.code, line)
	}
}
