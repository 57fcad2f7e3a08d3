"""A classifier whose answers change from call to call: what `package` must refuse, since the
server would not answer what the model answered. Importable, so joblib can unpickle it."""

import numpy as np
from sklearn.linear_model import LogisticRegression


class FlakyClassifier(LogisticRegression):
    """LogisticRegression whose predict() returns random classes."""

    def predict(self, X):  # noqa: N803 (scikit-learn's spelling)
        return np.random.default_rng().choice(self.classes_, size=len(X))
