"""The Kaggle route: the kaggle CLI (cli), the code-competition package and its manifest (package,
manifest), the offline notebook and what it runs (notebook, predict), its rehearsal in Kaggle's
conditions (rehearse), and publishing a run to a leaderboard score (publish). Nothing in the rest of
the library imports this package; the workflow's Kaggle rules do."""
