"""The cost planner: measured capacity, a dated price table and traffic → monthly cost
per deployment option, the crossover volumes and a chart (``tensorgate plan``)."""

from tensorgate.plan.cost import (
    Capacity,
    Crossover,
    OptionCost,
    Traffic,
    cheapest,
    crossovers,
    monthly_cost,
)
from tensorgate.plan.prices import Option, PriceTable, default_prices, load_prices

__all__ = [
    "Capacity",
    "Crossover",
    "Option",
    "OptionCost",
    "PriceTable",
    "Traffic",
    "cheapest",
    "crossovers",
    "default_prices",
    "load_prices",
    "monthly_cost",
]
