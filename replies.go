package deskie

// RepliesService finds agent replies in a custom channel's cases by polling the
// API: the receive path that catches what the webhook missed ([RepliesService.Watch]).
type RepliesService service
