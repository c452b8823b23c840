"""Failure drills (`make drills`): each starts what it needs on loopback, breaks something on
purpose, prints what it saw and returns a verdict. Run under scripts/with-postgres.sh."""
