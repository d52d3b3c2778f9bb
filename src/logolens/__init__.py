"""logolens: find brand logos in photos — train on your own data, recognise, detect, serve.

The package is laid out by stage: ``data`` (datasets, splits, crops, generated logos) →
``models`` (architectures by name) → ``training`` → ``evaluation`` → ``inference`` → ``cli``.
:class:`logolens.classifier.LogoClassifier` ties them together for brand recognition.
"""

__version__ = "0.1.0"
