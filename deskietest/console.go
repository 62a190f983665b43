package deskietest

import (
	_ "embed"
	"net/http"
)

// consoleHTML is the agent console: one page with its script and styles inline,
// so it works offline. Its element ids are listed at its top.
//
//go:embed console.html
var consoleHTML []byte

// consolePolicy lets the page run its own inline script and styles and talk to
// this origin only.
const consolePolicy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) serveConsole(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", consolePolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(consoleHTML)
}
