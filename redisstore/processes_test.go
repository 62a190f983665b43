package redisstore_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/deskie-go/deskie/redisstore"
	"github.com/redis/go-redis/v9"
)

// The child side of TestReplicaProcesses reads its job from these variables.
const (
	childEnv      = "DESKIE_REPLICA_CHILD" // the replica's name; set only in a child
	childFakeURL  = "DESKIE_REPLICA_FAKE_URL"
	childPrefix   = "DESKIE_REPLICA_PREFIX"
	childChannel  = "DESKIE_REPLICA_CHANNEL"
	childMessages = "DESKIE_REPLICA_MESSAGES" // customer/message pairs: "3/0,7/2"
)

// TestReplicaProcesses runs the replicas as separate OS processes (this test
// binary, re-executed), each with its own Client and Store on the same fake URL
// and Redis: nothing can be shared through Go memory. Bursts spread over the
// processes open one case per customer, and webhook copies POSTed to every
// process at once reach fn once.
func TestReplicaProcesses(t *testing.T) {
	if name := os.Getenv(childEnv); name != "" {
		replicaChild(t, name)
		return
	}
	addr := redisstore.RedisAddr(t)
	admin := redisstore.DialRedis(t, addr)
	prefix := redisstore.UniquePrefix(t)
	t.Cleanup(func() { redisstore.DeletePrefix(t, admin, prefix) })
	srv := deskietest.NewServer(deskietest.WithRateLimit(600, time.Minute))
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelAsync, "")

	const procs, customers, burst = 3, 12, 4
	jobs := make([][]string, procs)
	r := rand.New(rand.NewPCG(3, 3))
	for c := range customers {
		for m := range burst {
			p := r.IntN(procs)
			jobs[p] = append(jobs[p], fmt.Sprintf("%d/%d", c, m))
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	children := make([]*child, procs)
	for i := range children {
		children[i] = startChild(ctx, t, fmt.Sprintf("proc-%d", i), []string{
			childFakeURL + "=" + srv.URL, childPrefix + "=" + prefix, childChannel + "=" + ch,
			childMessages + "=" + strings.Join(jobs[i], ","), redisstore.RedisEnv + "=" + addr,
		})
	}
	for _, c := range children {
		c.url = c.expect(t, "ready ")
	}
	for _, c := range children { // all at once
		c.say(t, "go")
	}
	for _, c := range children {
		if got := c.expect(t, "sent "); got != strconv.Itoa(len(jobs[childIndex(c.name)])) {
			t.Errorf("%s sent %s", c.name, got)
		}
	}
	checkOneCaseEach(t, srv, ch, customers, burst)
	if n := count429(srv); n != 0 {
		t.Errorf("%d × 429", n)
	}

	// every reply's copies to every process at once
	var wg sync.WaitGroup
	for id := int64(1); id <= 20; id++ {
		for _, c := range children {
			wg.Go(func() {
				if st := deliver(ctx, t, c.url+"/deskie/"+webhookToken, id); st != http.StatusOK {
					t.Errorf("copy of %d to %s: %d", id, c.name, st)
				}
			})
		}
	}
	wg.Wait()
	handled := map[string]int{}
	for _, c := range children {
		c.say(t, "quit")
		for _, id := range c.rest(t) {
			handled[id]++
		}
	}
	for id := 1; id <= 20; id++ {
		if n := handled[strconv.Itoa(id)]; n != 1 {
			t.Errorf("reply %d handled %d times across the processes, want 1", id, n)
		}
	}
}

func childIndex(name string) int {
	i, _ := strconv.Atoi(strings.TrimPrefix(name, "proc-"))
	return i
}

// child is a replica process and its line protocol: it prints "REPLICA <word>
// <arg>" lines; the parent writes a word per line to its stdin.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	other []string // its output that is not protocol, for failure messages
	url   string
}

func startChild(ctx context.Context, t *testing.T, name string, env []string) *child {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReplicaProcesses$", "-test.count=1", "-test.v=false")
	cmd.Env = append(append(os.Environ(), childEnv+"="+name), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "REPLICA "); ok {
				c.lines <- rest
			} else {
				c.lines <- "other " + line
			}
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	return c
}

func (c *child) say(t *testing.T, word string) {
	if _, err := io.WriteString(c.stdin, word+"\n"); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
}

// expect returns the argument of the next protocol line, which must start with
// word.
func (c *child) expect(t *testing.T, word string) string {
	t.Helper()
	for line := range c.lines {
		if rest, ok := strings.CutPrefix(line, "other "); ok {
			c.other = append(c.other, rest)
			continue
		}
		if rest, ok := strings.CutPrefix(line, word); ok {
			return rest
		}
		t.Fatalf("%s said %q, want %q…; its other output: %q", c.name, line, word, c.other)
	}
	t.Fatalf("%s exited before %q; its output: %q", c.name, word, c.other)
	return ""
}

// rest reads the child's remaining lines until it exits and returns the ids it
// handled.
func (c *child) rest(t *testing.T) []string {
	t.Helper()
	var ids []string
	for line := range c.lines {
		switch {
		case strings.HasPrefix(line, "handled "):
			ids = append(ids, strings.TrimPrefix(line, "handled "))
		case strings.HasPrefix(line, "other "):
			c.other = append(c.other, strings.TrimPrefix(line, "other "))
		default:
			t.Errorf("%s said %q", c.name, line)
		}
	}
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("%s: %v; its output: %q", c.name, err, c.other)
	}
	return ids
}

// replicaChild is one replica process: its own go-redis client, Store and
// Client; a webhook endpoint; the messages it was given, sent at once on "go".
func replicaChild(t *testing.T, name string) {
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Printf("REPLICA "+format+"\n", args...)
	}
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(redisstore.RedisEnv), ContextTimeoutEnabled: true})
	defer func() { _ = rdb.Close() }()
	store := redisstore.New(rdb, redisstore.WithPrefix(os.Getenv(childPrefix)))
	client, err := deskie.NewClient("", deskietest.DefaultStaffEmail, deskietest.DefaultAPIKey,
		deskie.WithBaseURL(os.Getenv(childFakeURL)), deskie.WithStore(store),
		deskie.WithRetryWait(5*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		say("error %v", err)
		t.Fatal(err)
	}
	hs := httptest.NewServer(client.NewWebhookHandler(func(_ context.Context, r *deskie.AgentReply) error {
		say("handled %d", r.MessageID)
		return nil
	}, deskie.WithWebhookToken(webhookToken)))
	defer hs.Close()
	say("ready %s", hs.URL)

	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "go" {
		t.Fatal("no go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var sent sync.Map
	for _, job := range strings.Split(os.Getenv(childMessages), ",") {
		if job == "" {
			continue
		}
		cs, ms, _ := strings.Cut(job, "/")
		c, _ := strconv.Atoi(cs)
		m, _ := strconv.Atoi(ms)
		wg.Go(func() {
			_, err := client.Chats.Send(ctx, &deskie.CustomerMessage{Channel: os.Getenv(childChannel), UserCustomID: custID(c), Content: msgText(c, m)})
			if err != nil {
				say("error %s: %v", job, err)
				return
			}
			sent.Store(job, true)
		})
	}
	wg.Wait()
	n := 0
	sent.Range(func(any, any) bool { n++; return true })
	say("sent %d", n)
	for in.Scan() { // deliveries are handled until the parent says quit
		if in.Text() == "quit" {
			break
		}
	}
}
