"""cashback-accrual: prices purchases and refunds with versioned cashback rule sets."""

__version__ = "0.1.0"
