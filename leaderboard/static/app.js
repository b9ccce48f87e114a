/* stilts leaderboard: progressive enhancement only; every number is in the HTML without it. */
