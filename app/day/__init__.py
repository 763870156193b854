"""The day in memory: depot, orders, plan and live stop states, and the Qt models over it."""
