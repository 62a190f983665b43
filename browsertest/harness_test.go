package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// binDir holds the example binaries built for this run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deskie-browsertest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// chromiumPath returns the browser to drive. Without one the test skips, or
// fails in CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("DESKIE_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		msg := fmt.Sprintf("no Chromium at %s (set DESKIE_CHROMIUM, or on Debian: apt-get install -y chromium)", path)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + ": CI must run the browser tests")
		}
		t.Skip(msg)
	}
	return path
}

// browser is one headless Chromium for a test.
type browser struct {
	t       *testing.T
	ctx     context.Context // the first tab: it keeps the browser running
	shotDir string
	shotMu  sync.Mutex
}

// newBrowser starts Chromium; it is stopped when the test ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// page opens a tab. With isolated set it gets a browser context of its own (its
// own cookies, like another person's browser). When the test fails, a screenshot
// and the HTML of the page are saved and their paths printed.
func (b *browser) page(name string, isolated bool) context.Context {
	b.t.Helper()
	var opts []chromedp.ContextOption
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(b.ctx, opts...)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		b.t.Fatalf("opening a tab: %v", err)
	}
	b.t.Cleanup(func() {
		if b.t.Failed() {
			b.capture(ctx, name)
		}
		cancel()
	})
	return ctx
}

// capture saves a screenshot and the HTML of the page.
func (b *browser) capture(ctx context.Context, name string) {
	b.shotMu.Lock()
	defer b.shotMu.Unlock()
	if b.shotDir == "" {
		dir, err := os.MkdirTemp("", "deskie-browsertest-"+b.t.Name()+"-")
		if err != nil {
			b.t.Logf("no folder for screenshots: %v", err)
			return
		}
		b.shotDir = dir
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	base := filepath.Join(b.shotDir, regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(name, "_"))
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		b.t.Logf("screenshot of %s: %v", name, err)
	} else if err := os.WriteFile(base+".png", png, 0o600); err == nil {
		b.t.Logf("screenshot of %s: %s.png", name, base)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		if err := os.WriteFile(base+".html", []byte(html), 0o600); err == nil {
			b.t.Logf("HTML of %s: %s.html", name, base)
		}
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		b.t.Logf("%s was at %s", name, loc)
	}
}

// do runs the steps on a page within timeout, failing the test with what.
func do(t *testing.T, ctx context.Context, timeout time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression on a page.
func eval[T any](t *testing.T, ctx context.Context, what, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitFor waits until the JavaScript expression is truthy on a page. A poll
// does not survive a navigation (a form post, a redirect), so it starts again on
// the new page until the time is up.
func waitFor(t *testing.T, ctx context.Context, timeout time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("waiting %v for %s: timed out", timeout, what)
		}
		pctx, cancel := context.WithTimeout(ctx, left+time.Second)
		_, err := chromedp.Run(pctx, chromedp.Poll[any](expr, chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(left)))
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil || time.Until(deadline) <= 0 {
			t.Fatalf("waiting %v for %s: %v", timeout, what, err)
		}
		// The page navigated during the poll: poll the new one.
	}
}

// js quotes a Go string for JavaScript.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// example is a running example program.
type example struct {
	urls   map[string]string
	stderr *lockedBuffer
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// buildExample builds examples/<name> once per run and returns the binary.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[name]; ok {
		return bin
	}
	bin := filepath.Join(binDir, name)
	cmd := exec.Command("go", "build", "-o", bin, "./examples/"+name)
	cmd.Dir = ".." // the SDK's module
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/%s: %v\n%s", name, err, out)
	}
	built[name] = bin
	return bin
}

// startExample runs examples/<name> on free ports and returns the URLs it
// printed ("  widget:  http://…" lines). It is interrupted when the test ends
// and must then exit 0.
func startExample(t *testing.T, name string, want ...string) *example {
	t.Helper()
	cmd := exec.Command(buildExample(t, name), "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	ex := &example{urls: map[string]string{}, stderr: &lockedBuffer{}}
	cmd.Stderr = ex.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%s exited with %v; stderr:\n%s", name, err, ex.stderr.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not stop on SIGINT", name)
		}
	})
	found := make(chan map[string]string, 1)
	go func() {
		line := regexp.MustCompile(`^\s+([a-z]+):\s+(http://\S+)`)
		urls := map[string]string{}
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if m := line.FindStringSubmatch(sc.Text()); m != nil {
				urls[m[1]] = strings.TrimSuffix(m[2], "/")
			}
			if !sent && hasAll(urls, want) {
				found <- urls
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	select {
	case ex.urls = <-found:
	case err := <-exited:
		exited <- err
		t.Fatalf("%s exited before printing its URLs (%v); stderr:\n%s", name, err, ex.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s printed no %v within 60 s; stderr:\n%s", name, want, ex.stderr.String())
	}
	return ex
}

func hasAll(urls map[string]string, want []string) bool {
	for _, w := range want {
		if urls[w] == "" {
			return false
		}
	}
	return true
}

// lockedBuffer collects a process's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
