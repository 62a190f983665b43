package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/deskie-go/deskie/deskietest"
)

// result is one run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command line with the given environment.
func cli(t *testing.T, environ map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr, func(k string) string { return environ[k] })
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// oneErrorLine checks that stderr is exactly one "deskie: …" line.
func (r result) oneErrorLine(t *testing.T) string {
	t.Helper()
	line := strings.TrimSuffix(r.stderr, "\n")
	if line == "" || strings.Contains(line, "\n") || !strings.HasPrefix(line, "deskie: ") {
		t.Fatalf("stderr is not one \"deskie: …\" line: %q", r.stderr)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("stderr has a stack trace: %q", r.stderr)
	}
	return line
}

// fakeEnv starts an in-process fake with one channel and returns the environment
// that points the CLI at it.
func fakeEnv(t *testing.T, typ deskietest.ChannelType, opts ...deskietest.Option) (*deskietest.Server, string, map[string]string) {
	t.Helper()
	srv := deskietest.Start(t, opts...)
	ch := srv.AddChannel("App", typ, "")
	return srv, ch, map[string]string{
		"DESKIE_BASE_URL": srv.URL,
		"DESKIE_EMAIL":    srv.StaffEmail(),
		"DESKIE_API_KEY":  srv.APIKey(),
	}
}

func TestHelp(t *testing.T) {
	r := cli(t, nil, "--help")
	if r.code != exitOK || !strings.Contains(r.stdout, "Commands:") || r.stderr != "" {
		t.Fatalf("deskie --help: %+v", r)
	}
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			r := cli(t, nil, args...)
			if r.code != exitOK || !strings.Contains(r.stdout, "Usage: deskie "+c.name) || r.stderr != "" {
				t.Errorf("deskie %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	_, ch, environ := fakeEnv(t, deskietest.ChannelAsync)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no command", nil, environ, "Usage:"},
		{"unknown command", []string{"frobnicate"}, environ, `unknown command "frobnicate"`},
		{"unknown flag", []string{"channels", "--frob"}, environ, "flag provided but not defined: -frob"},
		{"send without channel", []string{"send", "--user", "alice", "hi"}, environ, "--channel is required"},
		{"send without user", []string{"send", "--channel", ch, "hi"}, environ, "--user is required"},
		{"send without text", []string{"send", "--channel", ch, "--user", "alice"}, environ, "TEXT is missing"},
		{"send to a non-custom channel", []string{"send", "--channel", "email", "--user", "alice", "hi"}, environ, "not a custom channel code"},
		{"cases with a bad limit", []string{"cases", "--limit", "1000"}, environ, "--limit must be 1–100"},
		{"no credentials", []string{"channels"}, map[string]string{}, "no account: set DESKIE_SUBDOMAIN or DESKIE_BASE_URL"},
		{"no key", []string{"channels"}, map[string]string{"DESKIE_SUBDOMAIN": "acme", "DESKIE_EMAIL": "a@b.c"}, "no API key"},
		{"bad subdomain", []string{"channels", "--subdomain", "acme.deskie.io"}, environ, `the subdomain (--subdomain, DESKIE_SUBDOMAIN): "acme.deskie.io" is not a bare subdomain`},
		{"subdomain and base URL", []string{"channels", "--subdomain", "acme", "--base-url", "http://127.0.0.1:1"}, environ, "give --subdomain or --base-url, not both"},
		{"listen without forward", []string{"listen", "--channel", ch}, environ, "--forward is required"},
		{"listen with a bad forward URL", []string{"listen", "--channel", ch, "--forward", "localhost:8080"}, environ, "is not an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, tc.env, tc.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want 2; stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			if tc.want == "Usage:" {
				if !strings.Contains(r.stderr, tc.want) {
					t.Fatalf("stderr %q", r.stderr)
				}
				return
			}
			if line := r.oneErrorLine(t); !strings.Contains(line, tc.want) {
				t.Fatalf("stderr %q, want it to say %q", line, tc.want)
			}
		})
	}
}

func TestChannels(t *testing.T) {
	srv, ch, environ := fakeEnv(t, deskietest.ChannelSync)
	srv.AddChannel("Forum", deskietest.ChannelAsync, "https://forum.example/hook")

	r := cli(t, environ, "channels")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("channels: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "CODE") || !strings.HasPrefix(lines[1], ch) || !strings.Contains(lines[2], "https://forum.example/hook") {
		t.Fatalf("channels printed:\n%s", r.stdout)
	}

	r = cli(t, environ, "channels", "--json")
	var got []channelOut
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitOK {
		t.Fatalf("channels --json: %v; %+v", err, r)
	}
	if len(got) != 2 || got[0].Code != ch || got[0].Type != "sync" || got[1].WebhookURL != "https://forum.example/hook" || !got[1].Active {
		t.Fatalf("channels --json: %+v", got)
	}
}

func TestSendAndCases(t *testing.T) {
	srv, ch, environ := fakeEnv(t, deskietest.ChannelAsync)
	send := func(args ...string) sendOut {
		t.Helper()
		r := cli(t, environ, append([]string{"send", "--json", "--channel", ch, "--user", "alice"}, args...)...)
		var out sendOut
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != exitOK || r.stderr != "" {
			t.Fatalf("send %q: %v; %+v", args, err, r)
		}
		return out
	}
	first := send("--user-name", "Alice", "My order is late")
	if first.Action != "created_case" || first.CaseID == 0 || first.UserID == 0 || first.UserCustomID != "alice" {
		t.Fatalf("first send: %+v", first)
	}
	// The CLI keeps no state: without --user-id/--case the customer is looked up.
	second := send("Any news?")
	if second.Action != "replied" || second.CaseID != first.CaseID || second.MessageID == 0 {
		t.Fatalf("second send: %+v", second)
	}
	if err := srv.CloseCase(first.CaseID); err != nil {
		t.Fatal(err)
	}
	// Flags after the text work too.
	r := cli(t, environ, "send", "It came, thanks", "--channel", ch, "--user", "alice", "--user-id", "0", "--case", "0")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "created_case: case ") || !strings.Contains(r.stdout, ", user ") {
		t.Fatalf("third send: %+v", r)
	}

	r = cli(t, environ, "cases", "--json", "--user", "alice")
	var list casesOut
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != exitOK {
		t.Fatalf("cases --json: %v; %+v", err, r)
	}
	if list.TotalCount != 2 || len(list.Cases) != 2 || list.Cases[1].ID != first.CaseID || list.Cases[1].Status != "closed" || list.Cases[0].Status != "open" {
		t.Fatalf("cases --json: %+v", list)
	}
	if list.Cases[1].Subject != "My order is late" || list.Cases[1].CreatedAt == "" || list.Cases[0].ClosedAt != "" {
		t.Fatalf("cases --json fields: %+v", list.Cases)
	}

	r = cli(t, environ, "cases", "--status", "closed", "--channel", ch)
	if r.code != exitOK || !strings.Contains(r.stdout, "My order is late") || strings.Contains(r.stdout, "It came") || !strings.Contains(r.stdout, "cases 1–1 of 1") {
		t.Fatalf("cases --status closed:\n%s", r.stdout)
	}
}

func TestCasesPages(t *testing.T) {
	srv, ch, environ := fakeEnv(t, deskietest.ChannelAsync)
	if _, err := srv.SeedCases(ch, "bob", 45); err != nil {
		t.Fatal(err)
	}
	r := cli(t, environ, "cases", "--limit", "20", "--page", "2")
	if r.code != exitOK || !strings.Contains(r.stdout, "cases 21–40 of 45; next: --page 3") {
		t.Fatalf("cases page 2:\n%s", r.stdout)
	}
	r = cli(t, environ, "cases", "--limit", "20", "--page", "3")
	if r.code != exitOK || !strings.HasSuffix(r.stdout, "cases 41–45 of 45\n") {
		t.Fatalf("cases page 3:\n%s", r.stdout)
	}
	r = cli(t, environ, "cases", "--user", "nobody")
	if r.code != exitOK || r.stdout != "no cases\n" {
		t.Fatalf("cases of nobody: %+v", r)
	}
}

func TestWrongKeyIsNeverPrinted(t *testing.T) {
	_, ch, environ := fakeEnv(t, deskietest.ChannelAsync)
	const key = "sk-very-secret-key-123" //nolint:gosec // G101: a wrong key, on purpose
	environ["DESKIE_API_KEY"] = key
	for _, args := range [][]string{
		{"channels"},
		{"cases", "--json"},
		{"send", "--channel", ch, "--user", "alice", "hi"},
		{"channels", "--api-key", key + "-flag"},
	} {
		r := cli(t, environ, args...)
		if r.code != exitFailure {
			t.Fatalf("%q: exit %d, want 1: %+v", args, r.code, r)
		}
		line := r.oneErrorLine(t)
		if strings.Contains(r.stdout+r.stderr, "very-secret") {
			t.Fatalf("%q printed the key: %q", args, r.stdout+r.stderr)
		}
		if !strings.Contains(line, "401") || !strings.Contains(line, "check the API key") {
			t.Fatalf("%q: %q", args, line)
		}
	}
	environ["DESKIE_API_KEY"] = deskietest.DefaultAPIKey
	environ["DESKIE_EMAIL"] = "someone@example.com"
	r := cli(t, environ, "channels")
	if line := r.oneErrorLine(t); r.code != exitFailure || !strings.Contains(line, "check the staff e-mail") {
		t.Fatalf("wrong e-mail: %+v", r)
	}
}

func TestUnreachable(t *testing.T) {
	// A port with nothing listening: take one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	environ := map[string]string{"DESKIE_BASE_URL": "http://" + addr, "DESKIE_EMAIL": "agent@example.com", "DESKIE_API_KEY": "some-key-value"}
	r := cli(t, environ, "channels", "--retries", "0")
	line := r.oneErrorLine(t)
	if r.code != exitFailure || !strings.Contains(line, "connection refused") || !strings.Contains(line, "check the base URL") ||
		strings.Count(line, "deskie:") != 1 || strings.Contains(line, "some-key-value") {
		t.Fatalf("unreachable: %+v", r)
	}
}

func TestInterruptedCommandFails(t *testing.T) {
	_, _, environ := fakeEnv(t, deskietest.ChannelAsync)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"channels"}, &stdout, &stderr, func(k string) string { return environ[k] })
	if code != exitFailure || !strings.Contains(stderr.String(), "context canceled") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestVersion(t *testing.T) {
	r := cli(t, nil, "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "deskie ") {
		t.Fatalf("version: %+v", r)
	}
}
