package pagetext

import "testing"

func TestPlain(t *testing.T) {
	for in, want := range map[string]string{
		"  hello ":                         "hello",
		"<p>Hi <b>you</b></p><p>there</p>": "Hi you\nthere",
		"a<br/>b &amp; c":                  "a\nb & c",
	} {
		if got := Plain(in); got != want {
			t.Errorf("Plain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShorten(t *testing.T) {
	if got := Shorten("héllo world", 5); got != "héll…" {
		t.Errorf("Shorten = %q", got)
	}
	if got := Shorten("hi", 5); got != "hi" {
		t.Errorf("Shorten = %q", got)
	}
}
