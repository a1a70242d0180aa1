"""`bunri standalone`: the whole platform on one machine, like `airflow standalone`.

Real parts are used where they answer; embedded defaults stand in where they do not (a SQLite
database, a local folder for objects, a filesystem broker transport). Redis is required.
"""
