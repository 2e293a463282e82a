"""The rehearsal: miniature replicas of every configured source, served from loopback servers."""
