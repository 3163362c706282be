"""The foundation every layer stands on: one error type (:mod:`~gazelab.core.errors`), the argument checks that
give bad input one clear message (:mod:`~gazelab.core.checks`), and where the checkout lies
(:mod:`~gazelab.core.paths`)."""
