"""A worked tradeoff-bench plug-in: the `residual-mlp` model family and the `breast-cancer` dataset."""
