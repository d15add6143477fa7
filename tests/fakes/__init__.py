"""Fake provider servers the tests start as real HTTP servers, so real client libraries run."""
