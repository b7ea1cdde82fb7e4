"""The engine's processes do not carry pandas (nor the pyarrow it imports), and pandas stays importable."""

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
import suggest.model
assert "sklearn" in sys.modules and "pandas" not in sys.modules and "pyarrow" not in sys.modules
import pandas
pandas.DataFrame({"code": ["I10"]})
from sklearn.utils.validation import check_array
print(check_array(pandas.DataFrame({"x": [1.0, 2.0]})).shape)
"""


def test_the_engine_imports_scikit_learn_without_pandas_and_pandas_still_works_after():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(2, 1)"
