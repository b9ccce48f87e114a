"""Templates and static assets of the leaderboard site (built by harness.leaderboard)."""
