// Package pagetext turns message text from the API into what the example pages
// show: plain text (the pages render no HTML from the helpdesk), cut to a length.
package pagetext

import (
	"html"
	"regexp"
	"strings"
	"unicode/utf8"
)

var (
	breakTags = regexp.MustCompile(`(?i)<br\s*/?>|</p>|</div>|</li>`)
	anyTag    = regexp.MustCompile(`<[^>]*>`)
)

// Plain turns text that may hold HTML into plain text: line-breaking tags become
// newlines, other tags go, entities are decoded.
func Plain(s string) string {
	if !strings.Contains(s, "<") && !strings.Contains(s, "&") {
		return strings.TrimSpace(s)
	}
	s = breakTags.ReplaceAllString(s, "\n")
	s = anyTag.ReplaceAllString(s, "")
	return strings.TrimSpace(html.UnescapeString(s))
}

// Shorten cuts s to n runes, ending in "…" when it was cut.
func Shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
