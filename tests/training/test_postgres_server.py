"""The PostgreSQL fixtures work with SQLAlchemy and Optuna's RDBStorage."""
import pytest

pytestmark = pytest.mark.postgres


def test_sqlalchemy_select_1(postgres_url):
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_optuna_rdb_storage_round_trip(fresh_postgres_db):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    writer = optuna.storages.RDBStorage(fresh_postgres_db)
    study = optuna.create_study(study_name="s", storage=writer, direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        params={"lr": 1e-3}, distributions={"lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)},
        value=0.75))

    reader = optuna.storages.RDBStorage(fresh_postgres_db)
    trials = optuna.load_study(study_name="s", storage=reader).trials
    assert [(t.params, t.value, t.state) for t in trials] == [
        ({"lr": 1e-3}, 0.75, optuna.trial.TrialState.COMPLETE)]
    for storage in (writer, reader):
        storage.engine.dispose()


def test_fresh_databases_differ(fresh_postgres_db, postgres_url):
    assert fresh_postgres_db != postgres_url
