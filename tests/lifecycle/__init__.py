"""The money-and-stock state machine (issue #20 part 5): shoppers, webhooks, timers and staff interleaved by
hypothesis on Postgres and localstripe, with the shop's invariants checked after every step."""
