"""The ways of scoring a pool: exact ZIP-FIT and the approximations that compress less."""
