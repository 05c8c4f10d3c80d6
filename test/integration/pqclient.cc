// A small libpq client for integration tests that need what psql and psycopg2 do not offer:
// pipeline mode (several extended-protocol queries before one Sync) and binary results.
//
//   pqclient DSN pipeline SQL...   sends each SQL with PQsendQueryParams, then one Sync
//   pqclient DSN binary SQL        runs SQL with binary results, prints values as hex
//
// Prints one line per result: "ok STATUS CMDTUPLES" or "error SQLSTATE MESSAGE", values as
// "row V1|V2", and at the end "tx IDLE|INTRANS|INERROR".
#include <libpq-fe.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

const char* tx_name(PGTransactionStatusType t) {
  switch (t) {
    case PQTRANS_IDLE: return "IDLE";
    case PQTRANS_INTRANS: return "INTRANS";
    case PQTRANS_INERROR: return "INERROR";
    default: return "OTHER";
  }
}

void print_result(PGresult* r, bool binary) {
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR) {
    const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char* msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    std::printf("error %s %s\n", code ? code : "-", msg ? msg : "-");
    return;
  }
  if (st == PGRES_PIPELINE_ABORTED) {
    std::printf("aborted\n");
    return;
  }
  if (st == PGRES_PIPELINE_SYNC) {
    std::printf("sync\n");
    return;
  }
  std::printf("ok %s %s\n", PQresStatus(st), PQcmdTuples(r));
  for (int i = 0; i < PQntuples(r); ++i) {
    std::string line = "row ";
    for (int j = 0; j < PQnfields(r); ++j) {
      if (j) line += "|";
      if (PQgetisnull(r, i, j)) {
        line += "NULL";
      } else if (binary) {
        static const char* hex = "0123456789abcdef";
        const unsigned char* v = reinterpret_cast<const unsigned char*>(PQgetvalue(r, i, j));
        for (int k = 0; k < PQgetlength(r, i, j); ++k) {
          line += hex[v[k] >> 4];
          line += hex[v[k] & 15];
        }
      } else {
        line += PQgetvalue(r, i, j);
      }
    }
    std::printf("%s\n", line.c_str());
  }
}

int pipeline(PGconn* c, int n, char** sqls) {
  if (PQenterPipelineMode(c) != 1) return 2;
  for (int i = 0; i < n; ++i)
    if (PQsendQueryParams(c, sqls[i], 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) return 2;
  if (PQpipelineSync(c) != 1) return 2;
  int syncs = 0;
  while (syncs < 1) {
    PGresult* r = PQgetResult(c);
    if (!r) continue;
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) ++syncs;
    print_result(r, false);
    PQclear(r);
  }
  PQexitPipelineMode(c);
  return 0;
}

int binary(PGconn* c, const char* sql) {
  PGresult* r = PQexecParams(c, sql, 0, nullptr, nullptr, nullptr, nullptr, 1);
  print_result(r, true);
  PQclear(r);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: pqclient DSN pipeline|binary SQL...\n");
    return 2;
  }
  PGconn* c = PQconnectdb(argv[1]);
  if (PQstatus(c) != CONNECTION_OK) {
    std::printf("connect-error %s", PQerrorMessage(c));
    return 1;
  }
  int rc = std::strcmp(argv[2], "pipeline") == 0 ? pipeline(c, argc - 3, argv + 3) : binary(c, argv[3]);
  std::printf("tx %s\n", tx_name(PQtransactionStatus(c)));
  PQfinish(c);
  return rc;
}
