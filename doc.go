// Package deskie is a Go client for the Deskie helpdesk API (and its twin,
// Omnidesk), built for teams that connect their own channel — a mobile app, a
// customer account page, a home-grown chat, a forum — through custom channels.
//
// It owns the integrator's whole loop:
//
//  1. Customer → helpdesk: [ChatsService.Send] puts each customer message in the
//     right case — a new case on first contact (with your own user id as
//     user_custom_id on the custom channel "cch<N>"), the user's last chat while it
//     is open or waiting, a new case once it is closed, the chat it was merged into
//     after an agent merged it — and never writes one message twice, even when the
//     network drops an answer. With [CustomerMessage].IdempotencyKey a caller's own
//     retry is safe too. One customer's Sends take turns, so a burst of their
//     messages opens one case.
//  2. Helpdesk → customer: [NewWebhookHandler] receives agent replies POSTed to the
//     channel's Webhook URL, checks a secret token, drops internal notes and the
//     replies you added yourself through the API (b_from_api=1), delivers each
//     message once, and hands a typed [AgentReply] to your function.
//     [RepliesService.Watch] polls for the replies the webhook missed (an endpoint
//     that was down, a delivery never retried) and hands them to the same function,
//     each reply once.
//  3. The typed client underneath: [Client] with Cases, Messages, Channels and
//     Users services, retries that never duplicate a write, a client-side rate
//     budget, and errors you can inspect with errors.As ([*APIError],
//     [*RateLimitError], [*RequestError], [*ArgumentError]) and errors.Is
//     ([ErrAmbiguous], [ErrInvalidArgument]).
//
// State that must outlive a call — customer turns, idempotency records, delivered
// replies, the account's rate budget — lives in a [Store]: [NewMemoryStore] by
// default, or a shared one (package redisstore) so that many replicas act as one
// client ([WithStore]).
//
// Package deskietest is an in-memory fake Deskie speaking the same wire protocol,
// for testing a whole bridge with no account.
//
// # The wire protocol
//
// Every request goes to https://{subdomain}.deskie.io/api/{path}.json (Omnidesk:
// {subdomain}.omnidesk.ru, set with [WithBaseURL]) with HTTP Basic auth: an agent's
// e-mail and an API key. Bodies are JSON wrapped in a root key ({"case":{…}},
// {"message":{…}}), or multipart with bracketed names (case[subject],
// case[attachments][1]) when files are attached. Lists come as numbered keys,
// {"0":{"case":{…}},"1":{…},"total_count":N}, at most 100 per page and 500 pages.
// Dates are RFC1123Z strings, "-" when unset. Errors carry {"error":"code"}.
//
// # Retries and rate limits
//
// The API allows a per-account number of requests a minute; a write costs 2, a
// read 1; the lower-case headers rate_limit_per_minute, api_calls_left and
// retry_after report the state, and 429 means "too many". The client keeps a
// budget that mirrors the window in its [Store], so a burst — from one process or
// from every replica sharing the store — waits instead of drawing 429s; the last
// state is [Client.Rate].
//
// GET and PUT are retried on connection errors, 5xx and 429. POST is retried only
// where the server surely did not act: 429, and a connection that could not be
// opened. A POST that may have been applied returns an error matching
// [ErrAmbiguous]. See [Client.Do].
//
// # Which facts are guesses
//
// The vendor documents only part of this API. Facts taken from third-party code
// rather than from the vendor are marked in the doc comments that rely on them,
// and the decoding is tolerant where they are uncertain (numbers sent as strings,
// booleans as 0/1, fields inside object[…] or bare in the webhook).
package deskie
