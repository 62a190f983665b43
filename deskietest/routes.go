package deskietest

import (
	"net/http"
	"net/http/httptest"
	"strings"
)

// routes serves the API under /api/ (authenticated, recorded, rate limited and
// open to faults), the control API under /_fake/ and the console; the root
// redirects to the console.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", s.middleware(s.apiRoutes()))
	mux.Handle("/_fake/", s.controlRoutes())
	mux.HandleFunc("GET /console", s.serveConsole)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console", http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found")
	})
	return mux
}

func (s *Server) apiRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/cases.json", s.createCase)
	mux.HandleFunc("GET /api/cases.json", s.listCases)
	mux.HandleFunc("GET /api/cases/{file}", s.getCase)
	mux.HandleFunc("PUT /api/cases/{file}", s.updateCase)
	mux.HandleFunc("POST /api/cases/{id}/messages.json", s.createMessage)
	mux.HandleFunc("GET /api/cases/{id}/messages.json", s.listMessages)
	mux.HandleFunc("GET /api/custom_channels.json", s.listChannels)
	mux.HandleFunc("GET /api/users.json", s.listUsers)
	mux.HandleFunc("POST /api/users.json", s.createUser)
	mux.HandleFunc("GET /api/users/{file}", s.getUser)
	mux.HandleFunc("PUT /api/users/{id}/link.json", s.linkUser)
	return withFallback(mux)
}

// withFallback answers what mux does not route in the API's JSON: a known path
// with another method 405 (with Allow), any other path 501
// {"error":"not_implemented_in_fake"} — the endpoint may well exist on the real
// service, and a 404 would look like its answer.
func withFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		switch rec.Code {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.Header().Get("Allow"))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed")
		case http.StatusNotFound:
			writeError(w, http.StatusNotImplemented, "not_implemented_in_fake")
		default: // a redirect to the cleaned path
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		}
	})
}

// idFromFile reads "123.json".
func idFromFile(file string) (int64, bool) {
	idText, ok := strings.CutSuffix(file, ".json")
	if !ok {
		return 0, false
	}
	return parseID(idText)
}
