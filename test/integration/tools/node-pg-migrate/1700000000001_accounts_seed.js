// Two accounts, removed again by name on the way down.
exports.up = (pgm) => {
  pgm.sql("INSERT INTO accounts (email) VALUES ('ada@example.com'), ('grace@example.com')");
};

exports.down = (pgm) => {
  pgm.sql("DELETE FROM accounts WHERE email IN ('ada@example.com', 'grace@example.com')");
};
