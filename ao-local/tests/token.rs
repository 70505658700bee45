//! A token process written the way AO token blueprints are (bint balances as
//! strings, json, utils, Handlers.utils.hasMatchingTag, Send with tags,
//! debit/credit notices), run end to end on ao-local.

use ao_local::LocalAo;
use ao_transport::{Address, Message, ProcessId};

const TOKEN: &str = r#"
local bint = require('.bint')(256)
local json = require('json')
local utils = require('.utils')

local math_ = {
  add = function(a, b) return tostring(bint(a) + bint(b)) end,
  subtract = function(a, b) return tostring(bint(a) - bint(b)) end,
}

Denomination = Denomination or 12
Balances = Balances or { [ao.id] = tostring(bint(10000 * 10 ^ Denomination)) }
TotalSupply = TotalSupply or tostring(bint(10000 * 10 ^ Denomination))
Name = Name or 'Arena Gold'
Ticker = Ticker or 'GOLD'

Handlers.add('info', Handlers.utils.hasMatchingTag('Action', 'Info'), function(msg)
  msg.reply({ Name = Name, Ticker = Ticker, Denomination = tostring(Denomination) })
end)

Handlers.add('balance', Handlers.utils.hasMatchingTag('Action', 'Balance'), function(msg)
  local who = msg.Tags.Recipient or msg.Tags.Target or msg.From
  msg.reply({ Balance = Balances[who] or '0', Ticker = Ticker, Account = who, Data = Balances[who] or '0' })
end)

Handlers.add('balances', Handlers.utils.hasMatchingTag('Action', 'Balances'), function(msg)
  msg.reply({ Data = json.encode(Balances) })
end)

Handlers.add('transfer', Handlers.utils.hasMatchingTag('Action', 'Transfer'), function(msg)
  assert(type(msg.Recipient) == 'string', 'Recipient is required!')
  assert(type(msg.Quantity) == 'string', 'Quantity is required!')
  assert(bint.__lt(0, bint(msg.Quantity)), 'Quantity must be greater than 0')
  if not Balances[msg.From] then Balances[msg.From] = '0' end
  if not Balances[msg.Recipient] then Balances[msg.Recipient] = '0' end
  if bint(msg.Quantity) <= bint(Balances[msg.From]) then
    Balances[msg.From] = math_.subtract(Balances[msg.From], msg.Quantity)
    Balances[msg.Recipient] = math_.add(Balances[msg.Recipient], msg.Quantity)
    Send({ Target = msg.From, Action = 'Debit-Notice', Recipient = msg.Recipient, Quantity = msg.Quantity })
    Send({ Target = msg.Recipient, Action = 'Credit-Notice', Sender = msg.From, Quantity = msg.Quantity })
  else
    Send({ Target = msg.From, Action = 'Transfer-Error', ['Message-Id'] = msg.Id, Error = 'Insufficient Balance!' })
  end
end)

Handlers.add('mint', Handlers.utils.hasMatchingTag('Action', 'Mint'), function(msg)
  assert(type(msg.Quantity) == 'string', 'Quantity is required!')
  assert(bint(0) < bint(msg.Quantity), 'Quantity must be greater than zero!')
  if msg.From == ao.id or msg.From == Owner then
    Balances[msg.From] = math_.add(Balances[msg.From] or '0', msg.Quantity)
    TotalSupply = math_.add(TotalSupply, msg.Quantity)
    msg.reply({ Data = 'Successfully minted ' .. msg.Quantity })
  else
    msg.reply({ Action = 'Mint-Error', Error = 'Only the Process Id can mint new ' .. Ticker .. ' tokens!' })
  end
end)

Handlers.add('total', Handlers.utils.hasMatchingTag('Action', 'Total-Supply'), function(msg)
  msg.reply({ Action = 'Total-Supply', Data = TotalSupply, Ticker = Ticker })
end)

-- utils are there for blueprints that use them
Holders = function() return #utils.keys(Balances) end
"#;

fn msg(pid: &ProcessId, tags: &[(&str, &str)]) -> Message {
    tags.iter().fold(Message::builder(pid.clone()), |b, (n, v)| b.tag(*n, *v)).build().unwrap()
}

#[test]
fn a_blueprint_style_token_runs_unchanged() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos(TOKEN).unwrap();
    let boot = ao.result_of(&pid, &pid.clone().into()).unwrap();
    assert!(boot.error.is_none(), "{:?}", boot.error);
    let owner = ao.signer();
    let alice = Address::from_bytes([0xa1; 32]);

    // The process holds the supply; give the owner some by Mint, then transfer.
    let (_, r) = ao.call(msg(&pid, &[("Action", "Mint"), ("Quantity", "1000000000000000000000")])).unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    let (_, r) = ao
        .call(msg(
            &pid,
            &[("Action", "Transfer"), ("Recipient", alice.as_str()), ("Quantity", "250000000000000000000")],
        ))
        .unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.messages[0].tag("Action"), Some("Debit-Notice"));
    assert_eq!(r.messages[1].tag("Action"), Some("Credit-Notice"));
    assert_eq!(r.messages[1].target, alice.to_string());

    let balance = |who: &Address| {
        let (_, r) = ao.call(msg(&pid, &[("Action", "Balance"), ("Recipient", who.as_str())])).unwrap();
        r.messages[0].tag("Balance").unwrap().to_owned()
    };
    assert_eq!(balance(&alice), "250000000000000000000");
    assert_eq!(balance(&owner), "750000000000000000000");

    // Too much: an error notice, balances unchanged.
    let (_, r) = ao
        .call_as(
            &alice,
            msg(
                &pid,
                &[
                    ("Action", "Transfer"),
                    ("Recipient", owner.as_str()),
                    ("Quantity", "250000000000000000001"),
                ],
            ),
        )
        .unwrap();
    assert_eq!(r.messages[0].tag("Action"), Some("Transfer-Error"));
    assert_eq!(balance(&alice), "250000000000000000000");

    // Zero is refused by the assert: an error result, as on AO.
    let (_, r) = ao
        .call_as(
            &alice,
            msg(&pid, &[("Action", "Transfer"), ("Recipient", owner.as_str()), ("Quantity", "0")]),
        )
        .unwrap();
    assert!(r.error.unwrap().contains("Quantity must be greater than 0"));

    // Only the owner mints.
    let (_, r) = ao.call_as(&alice, msg(&pid, &[("Action", "Mint"), ("Quantity", "5")])).unwrap();
    assert_eq!(r.messages[0].tag("Action"), Some("Mint-Error"));

    let (_, r) = ao.call(msg(&pid, &[("Action", "Total-Supply")])).unwrap();
    assert_eq!(r.messages[0].data_str(), Some("1000010000000000000000"));
    let (_, r) = ao.call(msg(&pid, &[("Action", "Balances")])).unwrap();
    let balances: serde_json::Value = serde_json::from_slice(&r.messages[0].data).unwrap();
    assert_eq!(balances[alice.as_str()], "250000000000000000000");
    assert_eq!(ao.eval(&pid, "Holders()").unwrap().output, "3");
}
