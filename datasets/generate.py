"""Generates slm's small task datasets, with train and held-out splits, from a fixed seed.

Everything is synthetic: names, companies and numbers are drawn from made-up lists; no real
person's data is used. Re-running gives the same files byte for byte.

    python3 datasets/generate.py

ticket-routing/   a support ticket → one queue name (billing, technical, account, shipping, returns)
note-extraction/  a short free-text note → a JSON object with name, date, order_id, amount, action
Each line is {"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}.
"""
import json
import os
import random

ROOT = os.path.dirname(os.path.abspath(__file__))
FIRST = ["Avery", "Bram", "Cleo", "Dario", "Elin", "Farah", "Gus", "Hana", "Ilya", "Juno", "Kofi", "Lena",
         "Mika", "Nils", "Oona", "Pavel", "Quinn", "Rosa", "Sami", "Tove", "Umar", "Vera", "Wren", "Yara", "Zeno"]
LAST = ["Ashgrove", "Brindle", "Coldwell", "Dunmore", "Eastwick", "Fenwood", "Galloway", "Holloway", "Ivers",
        "Jarrow", "Kestrel", "Larkin", "Marlowe", "Northam", "Oakridge", "Pember", "Quill", "Rookwood", "Stroud",
        "Thackery", "Underhill", "Vane", "Whitlock", "Yarrow"]
PRODUCTS = ["router", "standing desk", "coffee grinder", "headset", "monitor arm", "label printer", "webcam",
            "backpack", "keyboard", "space heater", "blender", "tablet stand"]

QUEUES = {
    "billing": [
        "I was charged twice for my {product} order {order}. Please refund one of the payments.",
        "My invoice for {month} shows {amount} but the plan costs less. Can you check the billing?",
        "The card payment for order {order} failed but the money left my account anyway.",
        "Why did my subscription renew at {amount}? I never agreed to the new price.",
        "I need a VAT invoice for order {order}, the one I got has the wrong company name.",
    ],
    "technical": [
        "The {product} keeps disconnecting every few minutes since the last firmware update.",
        "Your app crashes when I open the settings page on my phone. I already reinstalled it.",
        "The {product} won't power on at all, the light stays off even after charging overnight.",
        "I get error code {code} when I try to sync the {product} with my laptop.",
        "Setup wizard freezes at step 3 and I can't finish installing the {product}.",
    ],
    "account": [
        "I can't log in, the password reset email never arrives.",
        "Please change the email address on my account to my new work address.",
        "Someone else seems to have access to my account, I see logins from another country.",
        "How do I delete my account and all the data you keep about me?",
        "My two-factor codes stopped working after I switched phones.",
    ],
    "shipping": [
        "Order {order} was supposed to arrive on {day} and the tracking hasn't moved for a week.",
        "The courier says the {product} was delivered but nothing is at my door.",
        "Can I change the delivery address for order {order}? It hasn't shipped yet.",
        "My package arrived with the box crushed, is the {product} inside insured?",
        "How long does shipping to the islands usually take for a {product}?",
    ],
    "returns": [
        "I'd like to return the {product} from order {order}, it's smaller than described.",
        "The {product} arrived broken. Can I get a replacement instead of a refund?",
        "I sent back the {product} two weeks ago and still haven't received my refund of {amount}.",
        "Is it too late to return the {product}? I bought it {weeks} weeks ago and never opened it.",
        "Wrong color {product} in order {order}, how do I send it back?",
    ],
}
OPENERS = ["", "Hi, ", "Hello team, ", "Good morning. ", "Hey, ", "Urgent: ", "Hi there! "]
CLOSERS = ["", " Thanks.", " Thank you!", " Regards, {name}", " Please help.", " Cheers, {first}"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

ROUTING_SYSTEM = ("You route customer support tickets. Answer with exactly one queue name: "
                  "billing, technical, account, shipping or returns.")
EXTRACTION_SYSTEM = ('Extract the fields of the note as JSON with keys "name", "date" (YYYY-MM-DD), '
                     '"order_id", "amount" (a number, or null) and "action" '
                     '(one of "refund", "replace", "cancel", "callback", "none"). Answer with the JSON only.')


def fill(rng, template):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return template.format(
        product=rng.choice(PRODUCTS), order=f"#{rng.randint(10000, 99999)}", month=rng.choice(MONTHS),
        amount=f"${rng.randint(5, 400)}.{rng.randint(0, 99):02d}", code=f"E{rng.randint(100, 999)}",
        day=rng.choice(DAYS), weeks=rng.randint(2, 9), name=f"{first} {last}", first=first)


def ticket(rng):
    queue = rng.choice(sorted(QUEUES))
    opener, body = rng.choice(OPENERS), rng.choice(QUEUES[queue])
    if opener.endswith(", "):
        body = body[0].lower() + body[1:]
    text = fill(rng, opener + body + rng.choice(CLOSERS))
    return {"messages": [{"role": "system", "content": ROUTING_SYSTEM},
                         {"role": "user", "content": text},
                         {"role": "assistant", "content": queue}]}


NOTE_TEMPLATES = [
    ("{name} called on {date_text} about order {order}: the {product} is faulty, wants a {action_word}{amount_text}.", True),
    ("{date_text} - {name} ({order}) asked us to {action_word} the order{amount_text}.", True),
    ("Email from {name}, {date_text}. Order {order}. Customer requests a {action_word}{amount_text}.", True),
    ("Spoke with {name} {date_text}; order {order}; no action needed, question answered.", False),
    ("Order {order} / {name} / {date_text}: please {action_word}{amount_text} asap.", True),
]
ACTIONS = {"refund": ["refund", "refund"], "replace": ["replacement", "replace"], "cancel": ["cancellation", "cancel"],
           "callback": ["callback", "call back"]}


def note(rng):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    year, month, day = rng.randint(2023, 2025), rng.randint(1, 12), rng.randint(1, 28)
    date_text = rng.choice([f"{year}-{month:02d}-{day:02d}", f"{day} {MONTHS[month - 1]} {year}",
                            f"{MONTHS[month - 1][:3]} {day}, {year}", f"{day:02d}/{month:02d}/{year}"])
    template, has_action = rng.choice(NOTE_TEMPLATES)
    action = rng.choice(sorted(ACTIONS)) if has_action else "none"
    words = ACTIONS.get(action, ["", ""])
    amount = round(rng.uniform(5, 500), 2) if action in ("refund", "cancel") and rng.random() < 0.8 else None
    order = f"#{rng.randint(10000, 99999)}"
    text = template.format(
        name=f"{first} {last}", date_text=date_text, order=order, product=rng.choice(PRODUCTS),
        action_word=words[0] if "a {action_word}" in template else words[1],
        amount_text=f" (${amount:.2f})" if amount is not None else "")
    answer = {"name": f"{first} {last}", "date": f"{year}-{month:02d}-{day:02d}", "order_id": order,
              "amount": amount, "action": action}
    return {"messages": [{"role": "system", "content": EXTRACTION_SYSTEM},
                         {"role": "user", "content": text},
                         {"role": "assistant", "content": json.dumps(answer)}]}


def write(name, make, train, heldout, seed):
    rng = random.Random(seed)
    rows = [make(rng) for _ in range(train + heldout)]
    folder = os.path.join(ROOT, name)
    os.makedirs(folder, exist_ok=True)
    for split, part in (("train", rows[:train]), ("heldout", rows[train:])):
        path = os.path.join(folder, f"{split}.jsonl")
        with open(path + ".tmp", "w") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in part)
        os.replace(path + ".tmp", path)
    print(f"{name}: {train} train, {heldout} held-out")


if __name__ == "__main__":
    write("ticket-routing", ticket, 800, 200, seed=20261121)
    write("note-extraction", note, 800, 200, seed=20261122)
