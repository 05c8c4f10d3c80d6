// pgjdbc through pgwarden: a prepared statement run past the driver's server-prepare threshold
// (so it becomes a named statement), a batch insert, and statements a rule denies, one of them
// inside a transaction. Usage: java JdbcPipeline JDBC_URL USER PASSWORD; prints key=value lines.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

public class JdbcPipeline {
  static long single(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    p.setProperty("user", args[1]);
    p.setProperty("password", args[2]);
    try (Connection c = DriverManager.getConnection(args[0], p)) {
      try (Statement st = c.createStatement()) {
        st.execute("CREATE TABLE jdbc_items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2))");
      }
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_items (id, name, price) VALUES (?, ?, ?)")) {
        for (int i = 0; i < 10; ++i) {
          ps.setInt(1, i);
          ps.setString(2, "single-" + i);
          ps.setBigDecimal(3, new java.math.BigDecimal(i + ".50"));
          ps.executeUpdate();
        }
        for (int i = 10; i < 110; ++i) {
          ps.setInt(1, i);
          ps.setString(2, "batch-" + i);
          ps.setBigDecimal(3, new java.math.BigDecimal("1.25"));
          ps.addBatch();
        }
        int total = 0;
        for (int n : ps.executeBatch()) total += n;
        System.out.println("batch_rows=" + total);
      }
      System.out.println("server_prepared=" + single(c, "SELECT count(*) FROM pg_prepared_statements"));
      try (PreparedStatement q = c.prepareStatement("SELECT name FROM jdbc_items WHERE id = ?")) {
        StringBuilder names = new StringBuilder();
        for (int i = 0; i < 8; ++i) {
          q.setInt(1, i * 7);
          try (ResultSet rs = q.executeQuery()) {
            rs.next();
            names.append(i == 0 ? "" : ",").append(rs.getString(1));
          }
        }
        System.out.println("names=" + names);
      }
      try (Statement st = c.createStatement()) {
        st.executeUpdate("UPDATE jdbc_items SET price = 0");
        System.out.println("denied_sqlstate=none");
      } catch (SQLException e) {
        System.out.println("denied_sqlstate=" + e.getSQLState());
      }
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        st.executeUpdate("INSERT INTO jdbc_items VALUES (1000, 'in-rolled-back-tx', 1)");
        st.executeUpdate("DELETE FROM jdbc_items");
        System.out.println("tx_denied_sqlstate=none");
      } catch (SQLException e) {
        System.out.println("tx_denied_sqlstate=" + e.getSQLState());
        c.rollback();
      }
      c.setAutoCommit(true);
      System.out.println("rows=" + single(c, "SELECT count(*) FROM jdbc_items"));
    }
  }
}
