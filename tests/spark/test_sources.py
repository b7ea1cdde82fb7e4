"""Chart sources of the Spark jobs: URLs, options, and the columns every source becomes."""

from __future__ import annotations

import json

import pytest

from suggest.errors import SuggestError
from suggest.spark.sources import ChartSource, jdbc_connection


def test_the_chart_stores_urls_become_jdbc_urls():
    assert jdbc_connection("sqlite:///var/charts.db") == ("jdbc:sqlite:var/charts.db", {"driver": "org.sqlite.JDBC"})
    assert jdbc_connection("sqlite:////srv/charts.db")[0] == "jdbc:sqlite:/srv/charts.db"
    url, properties = jdbc_connection("postgresql+psycopg://coder:p%40ss@db.example:5433/charts")
    assert url == "jdbc:postgresql://db.example:5433/charts"
    assert properties == {"driver": "org.postgresql.Driver", "user": "coder", "password": "p@ss"}
    assert jdbc_connection("jdbc:postgresql://h/db")[1] == {"driver": "org.postgresql.Driver"}
    with pytest.raises(SuggestError, match="mysql: not a JDBC URL"):
        jdbc_connection("mysql://h/db")


def test_a_source_is_a_file_or_a_database_and_describes_itself_without_a_password():
    with pytest.raises(ValueError, match="either a path or a JDBC URL"):
        ChartSource()
    with pytest.raises(ValueError, match="a table or a query"):
        ChartSource(jdbc_url="sqlite:///x.db", table="t", query="select 1")
    described = ChartSource(jdbc_url="postgresql://coder:secret@h/charts").describe()
    assert "secret" not in described and "the chart store's charts" in described
    assert ChartSource(path="/data/x.ndjson").file_format() == "jsonl"
    with pytest.raises(SuggestError, match="--input-format"):
        ChartSource(path="/data/charts.txt").file_format()


def test_csv_codes_and_parquet_codes_read_as_lists(spark, tmp_path):
    from suggest.spark.sources import read_charts

    csv = tmp_path / "charts.csv"
    csv.write_text('id,text,codes\nc1,"Line one.\nLine two, with a comma.","E11.9; I10"\nc2,Asthma.,\n',
                   encoding="utf-8")
    rows = {r["id"]: r for r in read_charts(spark, ChartSource(path=str(csv)), with_codes=True).collect()}
    assert rows["c1"]["text"] == "Line one.\nLine two, with a comma."
    assert rows["c1"]["codes"] == ["E11.9", "I10"] and rows["c2"]["codes"] == []
    assert rows["c1"]["specialty"] is None and rows["c1"]["source_error"] is None

    parquet = tmp_path / "charts.parquet"
    spark.createDataFrame([(7, "Asthma.", ["J45.909"], "pulmonology")], "id INT, text STRING, codes ARRAY<STRING>, "
                          "specialty STRING").write.parquet(str(parquet))
    row = read_charts(spark, ChartSource(path=str(parquet)), with_codes=True).first()
    assert (row["id"], row["codes"], row["specialty"]) == ("7", ["J45.909"], "pulmonology")


def test_a_jsonl_line_with_a_numeric_id_is_read(spark, tmp_path):
    from suggest.spark.sources import read_charts

    path = tmp_path / "charts.jsonl"
    path.write_text(json.dumps({"id": 12, "text": "Asthma."}) + "\n", encoding="utf-8")
    row = read_charts(spark, ChartSource(path=str(path))).first()
    assert (row["id"], row["text"], row["source_error"]) == ("12", "Asthma.", None)
