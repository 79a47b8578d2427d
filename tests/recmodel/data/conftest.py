"""Small files in the exact public formats, quirks included."""

from __future__ import annotations

import pytest

ML100K_GENRES = 19


@pytest.fixture
def ml100k_dir(tmp_path):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text(
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
        "196\t302\t5\t881251000\n22\t242\t4\t878887200\n186\t377\t2\t891717800\n"
    )
    (folder / "u.user").write_text(
        "22|25|M|writer|40206\n186|39|F|executive|00000\n196|49|M|writer|55105\n"
    )
    flags = lambda on: "|".join("1" if i == on else "0" for i in range(ML100K_GENRES))  # noqa: E731
    (folder / "u.item").write_bytes(
        (f"242|Kolya (1996)|24-Jan-1997||http://x|{flags(5)}\n"
         f"302|L.A. Confidential (1997)|01-Jan-1997||http://x|{flags(6)}\n"
         f"377|Heavyweights (1994)|01-Jan-1994||http://x|{flags(3)}\n").encode("latin-1")
        .replace(b"Kolya", "Kolyä".encode("latin-1"))
    )
    return folder


@pytest.fixture
def ml1m_dir(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    (folder / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        .replace("Peach", "Pêche").encode("latin-1")
    )
    return folder


@pytest.fixture
def ml_latest_dir(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,2.5,964982224\n")
    (folder / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n'
        '3,"American President, The (1995)",Comedy|Drama|Romance\n'
    )
    return folder


@pytest.fixture
def retailrocket_dir(tmp_path):
    folder = tmp_path / "retailrocket"
    folder.mkdir()
    (folder / "events.csv").write_text(
        "timestamp,visitorid,event,itemid,transactionid\n"
        "1433221332117,257597,view,355908,\n1433224214164,992329,view,248676,\n"
        "1433221999827,257597,addtocart,355908,\n1433222276276,257597,transaction,355908,4000\n"
    )
    (folder / "item_properties_part1.csv").write_text(
        "timestamp,itemid,property,value\n1435460400000,355908,categoryid,1173\n1441508400000,355908,categoryid,1200\n"
        "1439089200000,248676,888,1116\n"
    )
    return folder


@pytest.fixture
def taobao_file(tmp_path):
    path = tmp_path / "UserBehavior.csv"
    path.write_text("1,2268318,2520377,pv,1511544070\n1,2333346,2520771,pv,1511561733\n1,2576651,149192,buy,1511572885\n"
                    "100,2268318,2520377,cart,1511600000\n100,2333346,2520771,fav,1511600100\n")
    return path
